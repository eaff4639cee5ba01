"""Data: synthetic sets and bundled digits (chapter 02); the pipeline comes with chapter 06."""
