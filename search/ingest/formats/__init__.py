"""The readers of each family of file formats, chosen by ``search.ingest.read``.

Each turns one ``SourceFile`` into its articles and skips: ``text`` (``.txt``, ``.md``),
``records`` (``.json``, ``.jsonl``), ``html``, ``feeds`` (RSS and Atom), ``warc``.
"""
