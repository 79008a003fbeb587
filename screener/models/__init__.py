"""Neural networks: the periodic autoencoder and the attention CNN regressor."""
