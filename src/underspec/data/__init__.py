"""Data layer: the item table, sources of images, the challenge layout and the task generators."""
