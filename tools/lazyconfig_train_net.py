#!/usr/bin/env python
"""Train or evaluate any RmLR / DETR LazyConfig (Detectron2's lazyconfig_train_net, extended).

    python tools/lazyconfig_train_net.py --config-file projects/RmLR/configs/rmlr/rmlr_r50_hico_det.py
    python tools/lazyconfig_train_net.py --config-file CFG --num-gpus 4 train.grad_accum_steps=2
    python tools/lazyconfig_train_net.py --config-file CFG --eval-only train.init_checkpoint=model.pth
    python tools/lazyconfig_train_net.py --config-file CFG --resume          # continue a killed run

Beyond Detectron2's script: gradient accumulation (``train.grad_accum_steps``), gradient clipping
(``train.clip_grad.max_norm``), AMP only on CUDA, ``train.device=auto``, a data order that
continues exactly after ``--resume``, a refusal to start from weights that do not exist or with a
verb count that does not match the datasets, and a final results table. ``--num-gpus N`` starts N
processes: NCCL on GPUs, gloo on CPU.
"""

import json
import logging
import os

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.config import LazyConfig, instantiate
from detectron2.engine import default_argument_parser, default_setup, default_writers, hooks, launch
from detectron2.engine.defaults import create_ddp_model
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm

from rmlr.engine import (
    HOITrainer,
    build_resumable_train_loader,
    check_dataset_classes,
    check_weight_sources,
    format_results_table,
    resolve_device,
)

logger = logging.getLogger("detectron2")


def do_test(cfg, model):
    if "evaluator" not in cfg.dataloader:
        return {}
    ret = inference_on_dataset(
        model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
    )
    if comm.is_main_process() and ret:
        print_csv_format(ret)
    return ret


def do_train(args, cfg):
    device = resolve_device(cfg.train.device)
    model = instantiate(cfg.model)
    logger.info("Model:\n{}".format(model))
    model.to(device)

    cfg.optimizer.params.model = model
    optim = instantiate(cfg.optimizer)

    model = create_ddp_model(model, **cfg.train.ddp)
    accum = int(cfg.train.get("grad_accum_steps", 1))
    clip = cfg.train.get("clip_grad", {})
    trainer = HOITrainer(
        model,
        None,  # built below, once the resume point is known
        optim,
        grad_accum_steps=accum,
        clip_grad_norm=float(clip.get("max_norm", 0.0)) if clip.get("enabled", False) else 0.0,
        clip_grad_norm_type=float(clip.get("norm_type", 2.0)),
        amp=bool(cfg.train.amp.enabled) and device.startswith("cuda"),
    )
    checkpointer = DetectionCheckpointer(model, cfg.train.output_dir, trainer=trainer)
    last_results = {}

    def test_and_keep():
        last_results.update(do_test(cfg, model))
        return last_results

    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            (
                hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
                if comm.is_main_process()
                else None
            ),
            hooks.EvalHook(cfg.train.eval_period, test_and_keep),
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

    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    # The checkpoint stores the iteration that just finished: continue at the next one.
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    trainer.data_loader = build_resumable_train_loader(
        cfg.dataloader.train,
        start_iter=start_iter,
        samples_per_iter=int(cfg.dataloader.train.total_batch_size) * accum,
        seed=cfg.train.get("seed", 0),
    )
    trainer.train(start_iter, cfg.train.max_iter)
    # EvalHook evaluates after the last iteration too: these are the final results.
    return last_results


def main(args):
    cfg = LazyConfig.load(args.config_file)
    cfg = LazyConfig.apply_overrides(cfg, args.opts)
    default_setup(cfg, args)
    check_weight_sources(cfg, eval_only=args.eval_only, resume=args.resume)
    check_dataset_classes(cfg)

    if args.eval_only:
        model = instantiate(cfg.model)
        model.to(resolve_device(cfg.train.device))
        model = create_ddp_model(model)
        DetectionCheckpointer(model).load(cfg.train.init_checkpoint)
        results = do_test(cfg, model)
    else:
        results = do_train(args, cfg)
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


if __name__ == "__main__":
    args = default_argument_parser().parse_args()
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
