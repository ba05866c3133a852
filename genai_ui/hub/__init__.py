"""The Hugging Face Hub: search, support marks, GGUF metadata, downloads and publishing."""
