"""Small DETR builders shared by the DETR and entity-stage tests (random weights, offline)."""

from typing import List, Sequence, Tuple

import torch

from rmlr.modeling.entity_detection.detr import DETR, DETRDetector
from rmlr.modeling.entity_detection.detr_backbone import build_detr_resnet
from rmlr.modeling.entity_detection.detr_criterion import HungarianMatcher, SetCriterion
from rmlr.modeling.entity_detection.detr_transformer import DETRTransformer
from rmlr.modeling.entity_detection.position_encoding import PositionEmbeddingSine

PIXEL_MEAN = [123.675, 116.280, 103.530]
PIXEL_STD = [58.395, 57.120, 57.375]

# The tiny architecture: DETR's, with fewer blocks, channels, layers and queries.
BLOCKS = (1, 1, 1, 2)
STEM, RES2 = 16, 32  # C5 = 8 * 32 = 256 channels
D_MODEL, HEADS, LAYERS, FFN, QUERIES = 64, 4, 2, 128, 12


def build_tiny_detector(
    *, dc5: bool = False, with_criterion: bool = True, score_thresh: float = 0.0
) -> DETRDetector:
    detr = DETR(
        backbone=build_detr_resnet(
            num_blocks_per_stage=BLOCKS, stem_out_channels=STEM, res2_out_channels=RES2, dc5=dc5
        ),
        position_embedding=PositionEmbeddingSine(num_pos_feats=D_MODEL // 2),
        transformer=DETRTransformer(
            d_model=D_MODEL,
            nhead=HEADS,
            num_encoder_layers=LAYERS,
            num_decoder_layers=LAYERS,
            dim_feedforward=FFN,
        ),
        num_classes=80,
        num_queries=QUERIES,
    )
    criterion = SetCriterion(num_classes=80, matcher=HungarianMatcher()) if with_criterion else None
    return DETRDetector(
        detr=detr,
        criterion=criterion,
        pixel_mean=PIXEL_MEAN,
        pixel_std=PIXEL_STD,
        score_thresh=score_thresh,
    )


def randomize_state_(state, seed: int = 0) -> None:
    """Overwrite a state dict in place with random values that keep every part of DETR active:
    BN statistics and affine terms, LayerNorm gains, biases and query embeddings are random, and
    attention q/k weights are large enough for attention to be far from uniform (so queries and
    positions differ and a wrong permutation or mask would show)."""
    g = torch.Generator().manual_seed(seed)

    def rand(shape):
        return torch.rand(shape, generator=g)

    def randn(shape):
        return torch.randn(shape, generator=g)

    for key, v in state.items():
        if not v.is_floating_point():
            continue
        if key.endswith("running_var"):
            v.copy_(rand(v.shape) + 0.5)
        elif key.endswith("running_mean") or key.endswith("bias"):
            v.copy_(randn(v.shape) * 0.1)
        elif v.dim() == 1:  # BN / LayerNorm gains
            v.copy_(rand(v.shape) + 0.5)
        elif "query" in key:
            v.copy_(randn(v.shape))
        elif v.dim() >= 2:
            qk = any(s in key for s in ("q_proj", "k_proj", "in_proj"))
            fan_in = v[0].numel()
            v.copy_(randn(v.shape) * (3.0 if qk else 1.0) / fan_in**0.5)


def build_hf_detr(seed: int = 0, num_labels: int = 91):
    """transformers' DetrForObjectDetection with its own ResNet (no hub, no timm), the tiny
    architecture above and random weights; 91 labels + no-object as the hub's COCO models."""
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(
        num_channels=3,
        embedding_size=STEM,
        hidden_sizes=[RES2 * 2**i for i in range(4)],
        depths=list(BLOCKS),
        layer_type="bottleneck",
        out_features=["stage4"],
    )
    config = DetrConfig(
        use_timm_backbone=False,
        use_pretrained_backbone=False,
        backbone_config=backbone,
        d_model=D_MODEL,
        encoder_layers=LAYERS,
        decoder_layers=LAYERS,
        encoder_attention_heads=HEADS,
        decoder_attention_heads=HEADS,
        encoder_ffn_dim=FFN,
        decoder_ffn_dim=FFN,
        num_queries=QUERIES,
        num_labels=num_labels,
    )
    model = DetrForObjectDetection(config).eval()
    with torch.no_grad():
        randomize_state_(model.state_dict(), seed)
    return model


def random_images(sizes: Sequence[Tuple[int, int]], seed: int = 0) -> List[torch.Tensor]:
    """uint8 RGB (3, H, W) images with smooth content (a random low-resolution pattern upsampled),
    so the backbone sees structure rather than white noise."""
    g = torch.Generator().manual_seed(seed)
    images = []
    for h, w in sizes:
        low = torch.rand((1, 3, max(h // 16, 2), max(w // 16, 2)), generator=g) * 255
        image = torch.nn.functional.interpolate(low, size=(h, w), mode="bilinear")[0]
        images.append(image.round().clamp(0, 255).to(torch.uint8))
    return images
