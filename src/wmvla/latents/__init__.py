"""World latents: frozen video encoders, the episode-aware latent cache, and online encoding."""
