"""Facts the tests check against, written out independently of the library's own copies."""

# The paper's 13 forbidden words (as whole words, case-insensitive) plus Alpaca's five.
BLACKLIST_WITH_ALPACA = [
    "image",
    "images",
    "graph",
    "graphs",
    "picture",
    "pictures",
    "file",
    "files",
    "map",
    "maps",
    "draw",
    "plot",
    "video",
    "audio",
    "music",
    "flowchart",
    "diagram",
]
