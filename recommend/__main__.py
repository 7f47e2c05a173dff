"""python -m recommend serve|apply|materialize|train|status (in the recommend venv; `make up` runs `serve`).

- serve: apply the feature repository, then answer the API on 127.0.0.1:RECOMMEND_PORT, keeping the online
  store fresh and the model current (recommend/service.py);
- apply: register the entities and feature views with Feast (idempotent);
- materialize [--full]: copy the newest feature values from the analytics store into Redis (incremental:
  since the last materialisation; --full: from the beginning), on demand;
- train: fit the product model on every purchase in the analytics store and publish it as the current
  version (the service loads it within seconds);
- status: the registry, the last materialisation and the current model.
"""

import argparse
import json
import logging
import sys
import time

from fitmint import telemetry
from fitmint.telemetry.settings import TelemetrySettings
from recommend.settings import RecommendSettings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recommend", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="apply, then serve the API's requests (make up runs it)")
    commands.add_parser("apply", help="register the feature repository with Feast")
    materialize = commands.add_parser("materialize", help="feature values from the analytics store into Redis")
    materialize.add_argument("--full", action="store_true", help="from the beginning, not since the last run")
    commands.add_parser("train", help="fit and publish a new product model")
    commands.add_parser("status", help="registry, materialisation and model")
    args = parser.parse_args(argv)
    if args.command == "serve":
        # JSON logs (feast's per-minute registry lines quieted); traces: only the API asks this service, so it
        # continues the API's traced requests and starts none of its own (ratio 0 for roots).
        telemetry.setup("recommend", TelemetrySettings(fitmint_trace_sample_ratio=0.0))
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("feast").setLevel(logging.WARNING)  # its registry refreshes log at INFO every minute
    settings = RecommendSettings()
    settings.refuse_exposed_secrets("recommend")
    # Feast and the models load here, not at import: `--help` answers at once, and Compose's check can import
    # this module for its settings without the recommend venv.
    from recommend import featurestore, models, training

    if args.command == "serve":
        import uvicorn

        from recommend.service import create_app

        featurestore.apply(featurestore.open_store(settings))
        app = create_app(settings)
        telemetry.instrument_app(app)
        uvicorn.run(app, host=settings.recommend_host, port=settings.recommend_port, access_log=False,
                    log_level="warning", log_config=None)
        return 0
    store = featurestore.open_store(settings)
    if args.command == "apply":
        featurestore.apply(store)
        print("feature repository applied")
    elif args.command == "materialize":
        began = time.monotonic()
        result = featurestore.materialize(store, full=args.full)
        print(f"materialised in {time.monotonic() - began:.1f} s: {result}")
    elif args.command == "train":
        report = training.train(settings, store)
        print(json.dumps(report, default=str))
    elif args.command == "status":
        print(json.dumps({"registry": str(settings.registry_path),
                          "feature_views": sorted(v.name for v in store.list_feature_views()),
                          "model_version": models.current_version(settings.model_dir)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
