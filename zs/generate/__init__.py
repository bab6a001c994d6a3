"""Feature generators (GMMN, PADing primitive, semantic-centric VAE), losses, training on the store."""
