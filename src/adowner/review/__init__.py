"""The analyst workbench: ``adowner review LINK_DIR`` over a link output folder."""
