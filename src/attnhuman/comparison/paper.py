"""Values reported by the paper (Gao et al., "Roles of Scaling and Instruction Tuning in Language
Perception: Model vs. Human Attention"), to print beside ours. The paper used true per-subject saccade
counts; the public release has only the proxy cohort, so equality is not expected.
The paper does not say which Vicuna version its tables use; they are shown beside Vicuna v1.1.
"""
from __future__ import annotations

# Table 1 (Tables 2 and 3 repeat it): (model, size, tuning) -> (ntp loss per token / length, L1 %, L2 %)
RESEMBLANCE = {
    ("gpt2", "large", "base"): (0.3264, 34.99, 40.03),
    ("llama", "7b", "base"): (0.2408, 53.04, 62.44),
    ("alpaca", "7b", "base"): (0.2646, 52.51, 61.71),
    ("vicuna", "7b", "v1_1"): (0.2593, 51.90, 61.19),
    ("llama", "13b", "base"): (0.2406, 55.66, 64.20),
    ("alpaca", "13b", "base"): (0.2634, 55.05, 64.46),
    ("vicuna", "13b", "v1_1"): (0.2847, 54.26, 61.31),
    ("llama", "30b", "base"): (0.2372, 63.16, 69.40),
    ("llama", "65b", "base"): (0.2375, 64.05, 70.07),
}
CEILING = {"L1": 0.1560, "L2": 0.2463}                      # the paper's section 4, with true counts
# Table 4: (model, size) -> {(relation, group): number of layers vs LLaMA of the same size}
LAYER_COUNTS = {
    ("alpaca", "7b"): {("higher", "L1"): 3, ("higher", "L2"): 8, ("lower", "L1"): 4, ("lower", "L2"): 7},
    ("vicuna", "7b"): {("higher", "L1"): 9, ("higher", "L2"): 10, ("lower", "L1"): 8, ("lower", "L2"): 9},
    ("alpaca", "13b"): {("higher", "L1"): 4, ("higher", "L2"): 7, ("lower", "L1"): 16, ("lower", "L2"): 25},
    ("vicuna", "13b"): {("higher", "L1"): 5, ("higher", "L2"): 8, ("lower", "L1"): 14, ("lower", "L2"): 16},
}
# Table 5: human trivial-pattern reliance, group -> (min, max, mean, SE)
TRIVIAL_HUMANS = {"L1": (0.0048, 0.1525, 0.0473, 0.0037), "L2": (0.0134, 0.2165, 0.0894, 0.0060)}
# Table 8: max layerwise fMRI resemblance (%), anterior left temporal region
FMRI = {
    ("llama", "7b", "base"): (11.02, 15.45), ("alpaca", "7b", "base"): (10.99, 15.61),
    ("vicuna", "7b", "v1_1"): (11.35, 15.44), ("llama", "13b", "base"): (14.69, 20.19),
    ("alpaca", "13b", "base"): (14.67, 19.44), ("vicuna", "13b", "v1_1"): (14.02, 18.57),
}
FMRI_REGION = "anterior"
# the paper's section 5 and appendix D: (x, y, group) -> Pearson r; and the 100B extrapolation (%)
CORRELATIONS = {
    ("ntp_loss_per_len", "resemblance", "L1"): -0.875, ("ntp_loss_per_len", "resemblance", "L2"): -0.917,
    ("log10_parameters", "resemblance", "L1"): 0.989, ("log10_parameters", "resemblance", "L2"): 0.964,
    ("ntp_loss_per_len", "fmri_resemblance", "L1"): -0.777, ("ntp_loss_per_len", "fmri_resemblance", "L2"): -0.796,
}
# as printed; a least-squares line through Table 2 itself gives about 69 (L1) and 77 (L2) at 1e11
EXTRAPOLATION_100B = {"L1": 88.82, "L2": 98.80}
