#!/usr/bin/env python
"""Train or evaluate any RmLR / DETR LazyConfig (Detectron2's lazyconfig_train_net, extended).

    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py
    python tools/lazyconfig_train_net.py --config-file CFG --num-gpus 4 train.grad_accum_steps=2
    python tools/lazyconfig_train_net.py --config-file CFG --eval-only train.init_checkpoint=model.pth
    python tools/lazyconfig_train_net.py --config-file CFG --resume          # continue a killed run

Beyond Detectron2's script: gradient accumulation (``train.grad_accum_steps``), gradient clipping
(``train.clip_grad.max_norm``), AMP only on CUDA, ``train.device=auto``, a ``--resume`` that
continues bit for bit like an uninterrupted run (data order, augmentations and random state are
checkpointed; the newest valid checkpoint is used), weights read without running code from them
(local paths or URLs) and loaded strictly (``train.allow_partial_init_checkpoint=True`` to
fine-tune from a partial checkpoint), YAML configs read as data, overrides with unknown keys or
wrong types refused, a refusal to start from weights that do not exist or with a verb count that
does not match the datasets, and a final results table. ``--num-gpus N`` starts N processes: NCCL
on GPUs, gloo on CPU; each gives torch the cores available to it (less those other jobs keep
busy) divided by N threads, or ``OMP_NUM_THREADS`` when set, and logs the choice.
The HOI configs write the predictions file and per-class AP (CSV, plot) to train.output_dir.
Progress: Detectron2's log lines with ETA every train.log_period iterations, and "Inference
done i/n ... ETA" while evaluating.
"""

import rmlr  # noqa: F401  isort: skip  (first: registers everything, quiets a torch warning)

import json
import logging
import os
import sys

import torch
from detectron2.config import instantiate
from detectron2.engine import default_argument_parser, default_setup, default_writers, hooks, launch
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

from rmlr.checkpoint import CheckpointError, RmLRCheckpointer
from rmlr.config import ConfigError, load_config
from rmlr.engine import (
    StateCheckpointer,
    build_resumable_train_loader,
    build_trainer,
    check_dataset_classes,
    check_entity_detector_loaded,
    check_weight_sources,
    configure_torch_threads,
    format_results_table,
    load_model_for_inference,
    preserved_rng,
    read_training_checkpoint,
    repair_metrics_file,
    resolve_device,
    resume_training_state,
    use_checkpoint_entity_detector,
    use_checkpoint_pose_estimator,
)

logger = logging.getLogger("detectron2")


EPILOG = """
examples:
  python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/rmlr/rmlr_tiny_synthetic.py
  python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py \\
      --num-gpus 4 model.entity_detector.checkpoint=checkpoints/detr-r50-hicodet.pth
  python tools/lazyconfig_train_net.py --config-file CFG --num-gpus 1 \\
      dataloader.train.total_batch_size=2 train.grad_accum_steps=4   # the paper's batch 8 on 1 GPU
  python tools/lazyconfig_train_net.py --config-file CFG --eval-only train.init_checkpoint=model.pth
  python tools/lazyconfig_train_net.py --config-file CFG --resume     # continue a killed run
  python tools/lazyconfig_train_net.py --config-file CFG --num-machines 2 --machine-rank R \\
      --dist-url tcp://HOST:PORT

config overrides (key=value at the end; any key of the config):
  train.output_dir=DIR                 checkpoints, logs, TensorBoard, predictions, per-class AP
  train.init_checkpoint=FILE           weights to start from (--eval-only: the model to evaluate)
  train.max_iter=N  train.eval_period=N (0: evaluate once, after training)  train.log_period=N
  train.device=auto|cpu|cuda           auto: CUDA when present
  train.grad_accum_steps=N             one optimizer step per N micro-batches
  train.clip_grad.max_norm=X           gradient clipping (UPT: 0.1)
  train.amp.enabled=True               mixed precision (autocast on the run's device; on CPU: CPU
                                       autocast); train.amp.dtype=float16|bfloat16
  dataloader.train.total_batch_size=N  images per micro-batch, all processes together
  dataloader.test.batch_size=N         images per forward in evaluation, per process (same results)
  model.entity_detector.checkpoint=F   the frozen stage-1 DETR of an RmLR config
  model.num_verbs=V                    must equal the datasets' verb count (checked)

Configs: projects/RmLR/configs (README, "Training"); model zoo and paper numbers: MODEL_ZOO.md.
"""


def get_parser():
    parser = default_argument_parser(epilog=EPILOG)
    parser.prog = os.path.basename(__file__)
    parser.description = __doc__
    parser.add_argument(
        "--no-eval",
        action="store_true",
        help="train without evaluating (no results table; e.g. a smoke run)",
    )
    for action in parser._actions:
        if action.dest == "opts":
            action.metavar = "KEY=VALUE"
            action.help = "config overrides, path.key=value (see below)"
        elif action.dest == "config_file":
            action.help = (
                "a LazyConfig .py file, e.g. projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py"
            )
        elif action.dest == "resume":
            action.help = (
                "continue from train.output_dir/last_checkpoint (same schedule and data order)"
            )
        elif action.dest == "eval_only":
            action.help = "evaluate train.init_checkpoint on the config's test set, no training"
        elif action.dest == "num_gpus":
            action.help = "processes per machine: one per GPU, or gloo processes on a CPU"
    return parser


def do_test(cfg, model):
    if "evaluator" not in cfg.dataloader:
        return {}
    ret = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    if comm.is_main_process() and ret:
        print_csv_format(ret)
    return ret


def run_metadata(args, cfg):
    """Stored in every checkpoint (``rmlr_meta``) and logged by whoever loads it."""
    meta = {
        "config_file": os.path.abspath(args.config_file),
        "rmlr_version": rmlr.__version__,
        "torch_version": str(torch.__version__),
    }
    saved = os.path.join(cfg.train.output_dir, "config.yaml")
    if os.path.isfile(saved):
        with open(saved) as f:
            meta["config"] = f.read()
    return meta


def do_train(args, cfg, start):
    path, checkpoint, resumed = start
    device = resolve_device(cfg.train.device)
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(device)

    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)

    model = create_ddp_model(model, **cfg.train.ddp)
    accum = int(cfg.train.get("grad_accum_steps", 1))
    # the data loader is built below, once the resume point is known
    trainer = build_trainer(cfg.train, model, optim, device)
    partial = bool(cfg.train.get("allow_partial_init_checkpoint", False)) and not resumed
    checkpointer = RmLRCheckpointer(
        model,
        cfg.train.output_dir,
        strict=not partial,
        metadata=run_metadata(args, cfg),
        trainer=trainer,
    )
    last_results = {}

    def test_and_keep():
        with preserved_rng():  # evaluating or not changes nothing for the training that follows
            last_results.update(do_test(cfg, model))
        return last_results

    if resumed and comm.is_main_process():
        repair_metrics_file(
            os.path.join(cfg.train.output_dir, "metrics.json"), checkpoint["iteration"]
        )
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            StateCheckpointer(checkpointer, **cfg.train.checkpointer),
            None if args.no_eval else hooks.EvalHook(cfg.train.eval_period, test_and_keep),
            (
                hooks.PeriodicWriter(
                    default_writers(cfg.train.output_dir, cfg.train.max_iter),
                    period=cfg.train.log_period,
                )
                if comm.is_main_process()
                else None
            ),
        ]
    )

    if checkpoint is not None:
        # resumed: model and trainer state (strictly); else train.init_checkpoint: the model only
        checkpointer.apply(checkpoint, path, checkpointables=None if resumed else [])
        if partial:
            check_entity_detector_loaded(
                checkpointer.model, checkpoint, f"train.init_checkpoint {path}"
            )
    # The checkpoint stores the iteration that just finished: continue at the next one.
    start_iter = trainer.iter + 1 if resumed else 0
    trainer.data_loader = build_resumable_train_loader(
        cfg.dataloader.train, seed=cfg.train.get("seed", 0)
    )
    if resumed:
        samples = int(cfg.dataloader.train.total_batch_size) * accum
        resume_training_state(trainer, samples_per_iter=samples)
    trainer.train(start_iter, cfg.train.max_iter)
    # EvalHook evaluates after the last iteration too: these are the final results.
    return last_results


def main(args):
    cfg = load_config(args.config_file, args.opts)
    default_setup(cfg, args)
    # the project's own log lines (checkpoint sha256 and origin, dataset counts, resume repairs)
    setup_logger(cfg.train.output_dir, distributed_rank=comm.get_rank(), name="rmlr")
    # threads per process: cores available / processes started here (or OMP_NUM_THREADS)
    configure_torch_threads(max(1, args.num_gpus), log=logger)
    if args.eval_only:
        check_weight_sources(cfg, eval_only=True)
        check_dataset_classes(cfg)
        model = load_model_for_inference(
            cfg,
            cfg.train.init_checkpoint,
            device=resolve_device(cfg.train.device),
            what="train.init_checkpoint",
        )
        results = do_test(cfg, create_ddp_model(model))
    else:
        start = read_training_checkpoint(cfg, resume=args.resume)
        path, checkpoint, resumed = start
        if checkpoint is not None:
            use_checkpoint_entity_detector(cfg, checkpoint, path)
            use_checkpoint_pose_estimator(cfg, checkpoint, path)
        check_weight_sources(cfg, resume=resumed, checkpoint=checkpoint)
        check_dataset_classes(cfg)
        results = do_train(args, cfg, start)
    if comm.is_main_process() and results:
        table = format_results_table(results)
        logger.info("Results:\n" + table)
        with open(os.path.join(cfg.train.output_dir, "results.md"), "w") as f:
            f.write(table + "\n")
        with open(os.path.join(cfg.train.output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
    if comm.get_world_size() > 1:
        # Leave together: a rank exiting while gloo still talks to another aborts that one.
        comm.synchronize()
        torch.distributed.destroy_process_group()
    return results


# Bad input from the user (config, override, weight file, dataset): one line, no traceback (the
# traceback still goes to <output_dir>/log.txt).
USER_ERRORS = (ConfigError, CheckpointError, FileNotFoundError, ValueError)


def checked_main(args):
    try:
        return main(args)
    except USER_ERRORS as e:
        logger.debug("traceback of the error below", exc_info=True)
        sys.exit(f"lazyconfig_train_net.py: error: {e}")


if __name__ == "__main__":
    args = get_parser().parse_args()
    try:
        load_config(args.config_file, args.opts)  # refuse a bad config before starting processes
    except (ConfigError, FileNotFoundError) as e:
        sys.exit(f"lazyconfig_train_net.py: error: {e}")
    launch(
        checked_main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
