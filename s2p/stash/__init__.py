"""Everything s2p knows about talking to Stash over GraphQL."""
