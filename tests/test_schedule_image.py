"""The per-token noise schedule picture: one tile per (step, latent frame), coloured by timestep."""

import numpy as np
import torch

from worldwarp.diffusion.official import level_matrix, official_schedule, token_timesteps
from worldwarp.io.schedule_image import schedule_image


def test_tiles_show_history_holes_and_warped_tokens():
    timesteps, _ = official_schedule(10, 5.0)
    valid = torch.zeros(3, 4, 6, dtype=torch.bool)
    valid[:, :, :2] = True  # token column 0 warped, columns 1-2 holes
    t_tok = torch.stack([token_timesteps(lv) for lv in level_matrix(valid, 1, timesteps, 0.8)]).numpy()
    img = schedule_image(t_tok, min_tile=8)
    S, T, h, w = t_tok.shape  # (11, 3, 2, 3); zoom 4 -> 8 x 12 tiles, 1 px gaps
    assert img.dtype == np.uint8 and img.shape == (S * 9 - 1, T * 13 - 1, 3)
    tile = lambda s, j: img[s * 9: s * 9 + 8, j * 13: j * 13 + 12].astype(int)  # noqa: E731
    history, first = tile(0, 0), tile(0, 1)
    assert (history == history[0, 0]).all()  # one colour: t = 0
    hole, warped = first[0, 4:].sum(-1), first[0, :4].sum(-1)
    assert hole.min() > warped.max()  # t = 1000 is brighter in viridis than the held t ~ 951
    assert (tile(S - 1, 1) == history[0, 0]).all()  # every token ends at t = 0
    assert (img[8, :] == 255).all()  # the gap row between steps is white
