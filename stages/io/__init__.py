"""Reading and writing: atomic writes, arrays, tables, the pretraining corpus, DVCLive, the console filter and the `dvc` runner."""
