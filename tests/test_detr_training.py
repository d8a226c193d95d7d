"""Stage-1 fine-tuning: the tiny DETR config trained with its own optimizer node reduces the set
criterion loss on a handful of small synthetic images."""

import os

import torch
from detectron2.config import LazyConfig, instantiate
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(REPO, "projects", "RmLR", "configs", "detr", "detr_tiny_synthetic.py")


def _synthetic_batch(num_images=4, size=(96, 128), seed=0):
    """Grey images with 1-2 uniformly coloured rectangles; class = colour (person = red)."""
    g = torch.Generator().manual_seed(seed)
    colours = {0: (220, 40, 40), 56: (40, 200, 60)}  # person, chair
    batch = []
    for _ in range(num_images):
        image = torch.full((3, *size), 110, dtype=torch.uint8)
        boxes, classes = [], []
        for label in list(colours)[: 1 + int(torch.randint(2, (1,), generator=g))]:
            w, h = (int(torch.randint(24, 48, (1,), generator=g)) for _ in range(2))
            x = int(torch.randint(0, size[1] - w, (1,), generator=g))
            y = int(torch.randint(0, size[0] - h, (1,), generator=g))
            image[:, y : y + h, x : x + w] = torch.tensor(colours[label], dtype=torch.uint8)[
                :, None, None
            ]
            boxes.append([x, y, x + w, y + h])
            classes.append(label)
        inst = Instances(size)
        inst.gt_boxes = Boxes(torch.tensor(boxes, dtype=torch.float32))
        inst.gt_classes = torch.tensor(classes)
        batch.append({"image": image, "instances": inst, "height": size[0], "width": size[1]})
    return batch


def test_a_few_steps_reduce_the_set_criterion_loss():
    torch.manual_seed(0)
    cfg = LazyConfig.load(CONFIG)
    cfg.model.detr.transformer.dropout = 0.0  # a deterministic loss to compare
    model = instantiate(cfg.model).train()
    cfg.optimizer.params.model = model
    cfg.optimizer.lr = cfg.optimizer.params.backbone_lr = 5e-4  # a few steps, not an epoch
    optimizer = instantiate(cfg.optimizer)
    assert optimizer.param_groups[1]["lr"] == cfg.optimizer.params.backbone_lr
    batch = _synthetic_batch()

    history = []
    with EventStorage(0) as storage:
        for _ in range(8):
            losses = model(batch)
            assert all(k.startswith("loss_") for k in losses)
            total = sum(losses.values())
            history.append(total.item())
            optimizer.zero_grad()
            total.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_grad.max_norm)
            optimizer.step()
            storage.step()
        assert "detr/class_error" in storage.histories()  # a metric, not in the loss dict
    print("stage-1 loss:", [round(h, 2) for h in history])
    assert history[-1] < 0.8 * history[0], history
