"""`wmvla latents build`: encode every frame's clip into a latent cache (resumable, with progress)."""

import argparse
from pathlib import Path

from wmvla.cli.parsing import command, subgroup


def _build(args: argparse.Namespace) -> None:
    from wmvla.hub.lock import snapshot_revision
    from wmvla.latents.cache import CacheRequest, build_cache
    from wmvla.latents.encoders import load_encoder
    from wmvla.provenance import provenance

    request = CacheRequest(args.repo_id, args.encoder, args.temporal_window, args.camera)
    config = {**request.__dict__, "batch_size": args.batch_size, "shard_size": args.shard_size}
    revision = snapshot_revision(args.encoder_path) if args.encoder_path else None
    with provenance(args.out, config) as facts:
        report = build_cache(
            args.dataset,
            request,
            load_encoder(args.encoder, args.encoder_path, revision=revision),
            args.out,
            batch_size=args.batch_size,
            shard_size=args.shard_size,
            allow_nonfinite=args.allow_nonfinite,
            dataset_revision=snapshot_revision(args.dataset),
        )
        facts.update(clips_encoded=report.clips_encoded, frames_decoded=report.frames_decoded)
        facts.update(seconds=round(report.seconds, 2))


def register(groups: argparse._SubParsersAction) -> None:
    latents = subgroup(groups, "latents", "world latent caches")
    p = command(latents, "build", _build, "encode every frame's clip into a latent cache")
    p.add_argument("--dataset", type=Path, required=True, help="LeRobot dataset directory")
    p.add_argument("--repo-id", required=True, help="the dataset's repo id (recorded and checked)")
    p.add_argument("--encoder", required=True, help="registered encoder name, e.g. vjepa2-vitg")
    p.add_argument("--encoder-path", type=Path, default=None, help="the encoder's model directory")
    p.add_argument("--temporal-window", type=int, default=4, help="frames per clip (m)")
    p.add_argument("--camera", default="observation.images.image")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shard-size", type=int, default=4096, help="rows per shard (resume granularity)")
    p.add_argument("--allow-nonfinite", action="store_true", help="keep a cache with NaN/inf rows")
    p.add_argument("--out", type=Path, required=True)
