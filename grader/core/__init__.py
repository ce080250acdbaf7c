"""Layer 1, core: text utilities (`text`), the MiniLM embedder (`embedding`, `encoded`), the on-disk
vector store (`vector_store`), the e5 encoder (`semantic`) and span pooling (`pooling`).
Imports only `grader.settings` and `grader.errors`."""
