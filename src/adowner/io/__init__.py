"""Reading and writing the files every command shares, defined once.

=====================  ==============================================================
module                 owns
=====================  ==============================================================
:mod:`.ads`            the one ``read_ads``: any ads file, a prepared split or folder
:mod:`.splits`         a prepared folder's ``{train,val,test}.parquet`` and their checks
:mod:`.quarantine`     the one quarantine writer (JSONL, counted, atomic)
``adowner._io``        atomic files and output folders (``atomic_path``, ``atomic_open``,
                       ``atomic_dir``, ``write_json``, ``write_parquet``; crash-test hook)
=====================  ==============================================================

The atomic primitives stay in ``adowner._io`` (every writer imports them); the modules here
build on them. This package imports only the top level and, lazily, ``adowner.data`` (raw ads
go through ``data.prepare.load_ads``); ``data`` imports only :mod:`.quarantine` from here.
"""
