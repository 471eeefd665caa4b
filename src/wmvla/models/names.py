"""The tiny VLM's name and builder: the one tiny model that is no encoder (the tiny encoders are registry
entries, `wmvla.latents.registry`; `wmvla.study.tiny_models` lists them all).

Why apart from `wmvla.models.tiny`: the DAG needs the names while it is built, without importing torch.
"""

VLM_MODEL = "smolvlm"  # its tiny stand-in: `vlm_model_name: smolvlm-tiny`
VLM_TINY_BUILDER = "build_tiny_smolvlm"  # in wmvla.models.tiny
