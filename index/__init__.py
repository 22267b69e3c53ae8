"""Building and storing the index: articles, sentences, embeddings, FAISS and SQLite."""
