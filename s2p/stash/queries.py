"""Every GraphQL document s2p sends to Stash.

The documents are fixed text: user data (paths, titles, ids) travels only in
variables, never by building query strings.  They use only fields that exist
in Stash 0.27 and later (``files[].path``, ``groups``; not the removed
``Scene.path``/``movies``), and the tests validate each one against Stash's
schema.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    name: str  # the operation name, sent as operationName
    text: str


# What matching and the scene index need: identity, files, fingerprints.
_SUMMARY = """
fragment S2PSceneSummary on Scene {
  id
  title
  date
  updated_at
  files { path basename size fingerprints { type value } }
  studio { id }
}
"""

# Everything the Plex Metadata object is built from.
_METADATA = """
fragment S2PSceneMetadata on Scene {
  id
  title
  code
  details
  director
  date
  urls
  rating100
  organized
  created_at
  updated_at
  files { path basename size duration width height fingerprints { type value } }
  paths { screenshot }
  studio { id name image_path parent_studio { id name image_path } }
  performers { id name disambiguation gender image_path }
  tags { id name }
  groups { scene_index group { id name front_image_path } }
  stash_ids { endpoint stash_id }
}
"""

FIND_SCENE = Document(
    "S2PFindScene",
    """
query S2PFindScene($id: ID!) {
  findScene(id: $id) { ...S2PSceneMetadata }
}
"""
    + _METADATA,
)

# One missing id fails the whole query (Stash: "scene with id N not found").
FIND_SCENES = Document(
    "S2PFindScenes",
    """
query S2PFindScenes($ids: [ID!]) {
  findScenes(ids: $ids) { scenes { ...S2PSceneMetadata } }
}
"""
    + _METADATA,
)

# Paged scene summaries: the index, path and title lookups all use this.
SCENE_SUMMARIES = Document(
    "S2PSceneSummaries",
    """
query S2PSceneSummaries($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) { scenes { ...S2PSceneSummary } }
}
"""
    + _SUMMARY,
)

# The TV provider: every studio (its shows), and the scenes of one show.
STUDIOS = Document(
    "S2PStudios",
    """
query S2PStudios($filter: FindFilterType) {
  findStudios(filter: $filter) {
    studios { id name details image_path aliases updated_at parent_studio { id } tags { id name } }
  }
}
""",
)

SHOW_SCENES = Document(
    "S2PShowScenes",
    """
query S2PShowScenes($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) {
    scenes { id title date updated_at studio { id } files { path basename } }
  }
}
""",
)

VERSION = Document(
    "S2PVersion",
    """
query S2PVersion {
  version { version hash build_time }
  systemStatus { status appSchema }
}
""",
)

# Live sync: what changed since a time.  Stash does not move a scene's
# updated_at when its performer, studio, tag or group is edited, so those
# are asked for too, and then the scenes they appear in.
CHANGED_PERFORMERS = Document(
    "S2PChangedPerformers",
    """
query S2PChangedPerformers($performer_filter: PerformerFilterType, $filter: FindFilterType) {
  findPerformers(performer_filter: $performer_filter, filter: $filter) { performers { id updated_at } }
}
""",
)

CHANGED_STUDIOS = Document(
    "S2PChangedStudios",
    """
query S2PChangedStudios($studio_filter: StudioFilterType, $filter: FindFilterType) {
  findStudios(studio_filter: $studio_filter, filter: $filter) { studios { id updated_at } }
}
""",
)

CHANGED_TAGS = Document(
    "S2PChangedTags",
    """
query S2PChangedTags($tag_filter: TagFilterType, $filter: FindFilterType) {
  findTags(tag_filter: $tag_filter, filter: $filter) { tags { id updated_at } }
}
""",
)

CHANGED_GROUPS = Document(
    "S2PChangedGroups",
    """
query S2PChangedGroups($group_filter: GroupFilterType, $filter: FindFilterType) {
  findGroups(group_filter: $group_filter, filter: $filter) { groups { id updated_at } }
}
""",
)

SCENE_IDS = Document(
    "S2PSceneIds",
    """
query S2PSceneIds($filter: FindFilterType, $scene_filter: SceneFilterType) {
  findScenes(filter: $filter, scene_filter: $scene_filter) { scenes { id updated_at } }
}
""",
)

SCENE_COUNT = Document(
    "S2PSceneCount",
    """
query S2PSceneCount($filter: FindFilterType) {
  findScenes(filter: $filter) { count }
}
""",
)

# The library folders Stash scans (s2p init proposes path rules from them).
# Stash answers it only to a key with full rights; s2p can do without it.
LIBRARY_FOLDERS = Document(
    "S2PLibraryFolders",
    """
query S2PLibraryFolders {
  configuration { general { stashes { path excludeVideo } } }
}
""",
)

PERFORMER_IMAGE = Document(
    "S2PPerformerImage",
    """
query S2PPerformerImage($id: ID!) {
  findPerformer(id: $id) { id name image_path }
}
""",
)

STUDIO_IMAGE = Document(
    "S2PStudioImage",
    """
query S2PStudioImage($id: ID!) {
  findStudio(id: $id) { id name image_path }
}
""",
)

TAG_IMAGE = Document(
    "S2PTagImage",
    """
query S2PTagImage($id: ID!) {
  findTag(id: $id) { id name image_path }
}
""",
)

GROUP_IMAGE = Document(
    "S2PGroupImage",
    """
query S2PGroupImage($id: ID!) {
  findGroup(id: $id) { id name front_image_path back_image_path }
}
""",
)

ALL_DOCUMENTS = (
    FIND_SCENE,
    FIND_SCENES,
    SCENE_SUMMARIES,
    STUDIOS,
    SHOW_SCENES,
    VERSION,
    LIBRARY_FOLDERS,
    CHANGED_PERFORMERS,
    CHANGED_STUDIOS,
    CHANGED_TAGS,
    CHANGED_GROUPS,
    SCENE_IDS,
    SCENE_COUNT,
    PERFORMER_IMAGE,
    STUDIO_IMAGE,
    TAG_IMAGE,
    GROUP_IMAGE,
)
