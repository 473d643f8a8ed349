"""Artwork: image URLs handed to Plex and the images served behind them."""
