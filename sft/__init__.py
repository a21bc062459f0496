"""SFT on DeepMMSearchVQA and the data generator (a later issue)."""
