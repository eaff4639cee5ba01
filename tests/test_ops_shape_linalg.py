"""Shape and linear-algebra ops: forward against NumPy, gradients against finite differences.

Each entry of ``CASES`` is an op written once with the names nnkit and PyTorch share
(``lib(x)`` is the library of ``x``) and its NumPy reference. Every entry is checked
in float64: forward values, the gradient on contiguous, transposed and strided inputs
(``nnkit.gradcheck``, a random upstream gradient), and the second derivative.
``test_torch_shape_linalg.py`` runs the same table against PyTorch. The rest of this
file pins what has no gradient: errors, warnings, views sharing memory and versions.
"""

import warnings

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import nnkit
from test_ops_gradcheck import LAYOUTS, Case, assert_forward, case_arrays, check, check_second, lib

S = (2, 3, 4)
M = (4, 5)


def np_diag_embed(x, offset=0):
    """Matrices with the last dim of x on their diagonal ``offset`` (dims -2, -1)."""
    rows = [np.diag(r, offset) for r in x.reshape(-1, x.shape[-1])]
    return np.stack(rows).reshape(x.shape[:-1] + rows[0].shape)


def windows(x, dim, size, step):
    """Tensor.unfold's windows: the window index in ``dim``, the entries last."""
    dim %= x.ndim
    out = sliding_window_view(x, size, axis=dim)
    return np.moveaxis(np.moveaxis(out, dim, 0)[::step], 0, dim)


def np_cross(a, b, dim):
    return np.cross(a, b, axisa=dim, axisb=dim, axisc=dim)


def np_kron(a, b):
    return np.kron(a, b)


def well_conditioned(x):
    """x + 3 I: a matrix (or a batch) far from singular, for the inverse and negative powers."""
    return x + 3 * lib(x).eye(x.shape[-1], dtype=x.dtype)


def np_well_conditioned(x):
    return x + 3 * np.eye(x.shape[-1])


def np_matrix_power(x, n):
    return np.linalg.matrix_power(x, n)


ROLLS = [0, 2, 0, 0]

CASES = {
    # rolling, flipping, rotating
    "roll_flat": Case(lambda x: x.roll(3), lambda x: np.roll(x, 3), [S]),
    "roll_dims": Case(lambda x: lib(x).roll(x, (1, -2), (0, 2)), lambda x: np.roll(x, (1, -2), (0, 2)), [S]),
    "roll_same_dim_twice": Case(lambda x: x.roll((1, 1), (1, 1)), lambda x: np.roll(x, 2, 1), [S]),
    "roll_keyword": Case(lambda x: lib(x).roll(x, shifts=-5, dims=-1), lambda x: np.roll(x, -5, -1), [S]),
    "fliplr": Case(lambda x: x.fliplr(), np.fliplr, [M]),
    "flipud": Case(lambda x: lib(x).flipud(x), np.flipud, [S]),
    "flip_varargs": Case(lambda x: x.flip(0, 2), lambda x: np.flip(x, (0, 2)), [S]),
    "flip_dims_keyword": Case(lambda x: lib(x).flip(x, dims=[-1]), lambda x: np.flip(x, -1), [S]),
    "rot90": Case(lambda x: lib(x).rot90(x), np.rot90, [M]),
    "rot90_twice": Case(lambda x: x.rot90(2), lambda x: np.rot90(x, 2), [M]),
    "rot90_back": Case(lambda x: lib(x).rot90(x, -1, (0, 2)), lambda x: np.rot90(x, -1, (0, 2)), [S]),
    "rot90_zero": Case(lambda x: lib(x).rot90(x, 4), lambda x: x, [M]),
    # diagonals and triangles
    "diagonal": Case(lambda x: x.diagonal(), np.diagonal, [M]),
    "diagonal_offset": Case(lambda x: x.diagonal(-2), lambda x: np.diagonal(x, -2), [M]),
    "diagonal_dims": Case(lambda x: lib(x).diagonal(x, offset=1, dim1=2, dim2=0), lambda x: np.diagonal(x, 1, 2, 0),
                          [S]),
    "diagonal_of_transposed_dims": Case(lambda x: x.transpose(0, 1).diagonal(0, -1, 0),
                                        lambda x: np.diagonal(x.swapaxes(0, 1), 0, -1, 0), [S]),
    "diag_of_vector": Case(lambda x: lib(x).diag(x, 1), lambda x: np.diag(x, 1), [(3,)]),
    "diag_of_matrix": Case(lambda x: lib(x).diag(x, diagonal=-1), lambda x: np.diag(x, -1), [M]),
    "diag_embed": Case(lambda x: lib(x).diag_embed(x), np_diag_embed, [(2, 3)]),
    "diag_embed_offset": Case(lambda x: x.diag_embed(-1), lambda x: np_diag_embed(x, -1), [S]),
    "diag_embed_dims": Case(lambda x: lib(x).diag_embed(x, 1, 0, 2), lambda x: np.moveaxis(np_diag_embed(x, 1), 1, 0),
                            [(2, 3)]),
    "diagflat": Case(lambda x: lib(x).diagflat(x, -1), lambda x: np.diagflat(x, -1), [(2, 3)]),
    "tril_batched": Case(lambda x: x.tril(1), lambda x: np.tril(x, 1), [S]),
    "triu_batched": Case(lambda x: lib(x).triu(x, diagonal=-1), lambda x: np.triu(x, -1), [S]),
    "trace": Case(lambda x: x.trace(), np.trace, [M]),
    # repeating
    "repeat_interleave": Case(lambda x: x.repeat_interleave(2, dim=1), lambda x: np.repeat(x, 2, 1), [S]),
    "repeat_interleave_flat": Case(lambda x: x.repeat_interleave(2), lambda x: np.repeat(x, 2), [(2, 3)]),
    "repeat_interleave_counts": Case(lambda x: lib(x).repeat_interleave(x, lib(x).tensor(ROLLS), dim=0),
                                     lambda x: np.repeat(x, ROLLS, 0), [M]),
    "repeat_interleave_0d_count": Case(lambda x: x.repeat_interleave(lib(x).tensor(3), dim=-1, output_size=12),
                                       lambda x: np.repeat(x, 3, -1), [S]),
    "tile": Case(lambda x: x.tile(2), lambda x: np.tile(x, 2), [S]),
    "tile_more_dims": Case(lambda x: lib(x).tile(x, (2, 1, 1, 2)), lambda x: np.tile(x, (2, 1, 1, 2)), [S]),
    # sliding windows (overlapping windows share entries: their gradients add up)
    "unfold": Case(lambda x: x.unfold(2, 2, 1), lambda x: windows(x, 2, 2, 1), [S]),
    "unfold_step": Case(lambda x: x.unfold(1, 2, 2), lambda x: windows(x, 1, 2, 2), [(2, 5, 3)]),
    "unfold_last_dim": Case(lambda x: x.unfold(-1, 3, 2), lambda x: windows(x, -1, 3, 2), [M]),
    "unfold_twice": Case(lambda x: x.unfold(0, 2, 1).unfold(1, 3, 2), lambda x: windows(windows(x, 0, 2, 1), 1, 3, 2),
                         [M]),
    # reordering dims
    "t": Case(lambda x: x.t(), np.transpose, [M]),
    "t_vector": Case(lambda x: lib(x).t(x), lambda x: x, [(3,)]),
    "mH": Case(lambda x: x.mH, lambda x: x.swapaxes(-1, -2), [S]),
    "H": Case(lambda x: x.H, np.transpose, [M]),
    "adjoint": Case(lambda x: lib(x).adjoint(x), lambda x: x.swapaxes(-1, -2), [S]),
    "movedim": Case(lambda x: lib(x).movedim(x, (0, 1), (2, 0)), lambda x: np.moveaxis(x, (0, 1), (2, 0)), [S]),
    "moveaxis": Case(lambda x: x.moveaxis(-1, 0), lambda x: np.moveaxis(x, -1, 0), [S]),
    "swapaxes": Case(lambda x: x.swapaxes(0, 2), lambda x: x.swapaxes(0, 2), [S]),
    "swapdims": Case(lambda x: lib(x).swapdims(x, 1, -1), lambda x: x.swapaxes(1, -1), [S]),
    # reshaping
    "unflatten": Case(lambda x: x.unflatten(2, (2, -1)), lambda x: x.reshape(2, 3, 2, 2), [S]),
    "unflatten_negative_dim": Case(lambda x: lib(x).unflatten(x, -2, (3, 1)), lambda x: x.reshape(2, 3, 1, 4), [S]),
    "ravel": Case(lambda x: lib(x).ravel(x), np.ravel, [S]),
    "squeeze_tuple": Case(lambda x: x.squeeze((0, 2)), lambda x: x.squeeze((0, 2)), [(1, 3, 1, 4)]),
    "squeeze_tuple_not_one": Case(lambda x: lib(x).squeeze(x, (0, 1)), lambda x: x.squeeze(0), [(1, 3, 1, 4)]),
    "atleast_3d": Case(lambda x: lib(x).atleast_3d(x), np.atleast_3d, [(3,)]),
    "atleast_2d_several": Case(lambda a, b: lib(a).atleast_2d(a, b), lambda a, b: np.atleast_2d(a, b), [(), (3,)]),
    "atleast_1d_list": Case(lambda a, b: lib(a).atleast_1d([a, b]), lambda a, b: np.atleast_1d(a, b), [(), (2, 2)]),
    "broadcast_to": Case(lambda x: x.broadcast_to((2, 3, 4)), lambda x: np.broadcast_to(x, (2, 3, 4)), [(3, 1)]),
    "broadcast_tensors": Case(lambda a, b: lib(a).broadcast_tensors(a, b), np.broadcast_arrays, [(3, 1), (4,)]),
    "meshgrid_ij": Case(lambda a, b: lib(a).meshgrid(a, b, indexing="ij"),
                        lambda a, b: np.meshgrid(a, b, indexing="ij"), [(3,), (4,)]),
    "meshgrid_xy": Case(lambda a, b, c: lib(a).meshgrid([a, b, c], indexing="xy"), np.meshgrid, [(3,), (4,), (2,)]),
    "meshgrid_0d": Case(lambda a, b: lib(a).meshgrid(a, b, indexing="ij"),
                        lambda a, b: np.meshgrid(a, b, indexing="ij"), [(), (3,)]),
    # cutting out
    "narrow": Case(lambda x: x.narrow(2, 1, 2), lambda x: x[:, :, 1:3], [S]),
    "narrow_negative_start": Case(lambda x: lib(x).narrow(x, 0, -1, 1), lambda x: x[-1:], [S]),
    "select": Case(lambda x: x.select(1, -1), lambda x: x[:, -1], [S]),
    "select_fn": Case(lambda x: lib(x).select(x, 2, 0), lambda x: x[..., 0], [S]),
    "tensor_split_sections": Case(lambda x: x.tensor_split(3, dim=2), lambda x: np.array_split(x, 3, 2), [S]),
    "tensor_split_indices": Case(lambda x: lib(x).tensor_split(x, [1, 3], 1), lambda x: np.split(x, [1, 3], 1),
                                 [(2, 5)]),
    "tensor_split_index_tensor": Case(lambda x: lib(x).tensor_split(x, lib(x).tensor([4, 2])),
                                      lambda x: [x[:4], x[4:2], x[2:]], [(5, 2)]),
    "hsplit": Case(lambda x: x.hsplit(2), lambda x: np.hsplit(x, 2), [(3, 4)]),
    "vsplit_indices": Case(lambda x: lib(x).vsplit(x, [1]), lambda x: np.vsplit(x, [1]), [M]),
    "dsplit": Case(lambda x: x.dsplit(2), lambda x: np.dsplit(x, 2), [S]),
    "split_empty_piece": Case(lambda x: x.split([0, 3, 1], 2), lambda x: np.split(x, [0, 3], 2), [S]),
    "chunk_fewer_pieces": Case(lambda x: x.chunk(4, 1), lambda x: np.split(x, [2, 4], 1), [(2, 6)]),
    "unbind_negative_dim": Case(lambda x: x.unbind(-1), lambda x: [x[..., i] for i in range(4)], [S]),
    # joining
    "cat_skips_empty_1d": Case(lambda a, b: lib(a).cat([a, b.reshape(-1)[:0], b], dim=1),
                               lambda a, b: np.concatenate([a, b], 1), [(2, 3), (2, 2)]),
    "concat": Case(lambda a, b: lib(a).concat([a, b], -1), lambda a, b: np.concatenate([a, b], -1), [(2, 3), (2, 2)]),
    "concatenate_axis": Case(lambda a, b: lib(a).concatenate((a, b), axis=0), lambda a, b: np.vstack([a, b]),
                             [(2, 3), (1, 3)]),
    "stack_axis": Case(lambda a, b: lib(a).stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1), [(2, 3), (2, 3)]),
    "hstack_vectors": Case(lambda a, b: lib(a).hstack([a, b]), lambda a, b: np.hstack([a, b]), [(3,), (2,)]),
    "hstack_matrices": Case(lambda a, b: lib(a).hstack((a, b)), lambda a, b: np.hstack([a, b]), [(2, 3), (2, 1)]),
    "vstack": Case(lambda a, b: lib(a).vstack([a, b]), lambda a, b: np.vstack([a, b]), [(3,), (2, 3)]),
    "dstack": Case(lambda a, b: lib(a).dstack([a, b]), lambda a, b: np.dstack([a, b]), [(2, 3), (2, 3, 2)]),
    "column_stack": Case(lambda a, b, c: lib(a).column_stack([a, b, c]), lambda a, b, c: np.column_stack([a, b, c]),
                         [(3,), (3, 2), (3,)]),
    # einsum: explicit and implicit output, ellipsis, diagonals, traces, broadcast labels
    "einsum_matmul": Case(lambda a, b: lib(a).einsum("ij,jk->ik", a, b), np.matmul, [(3, 4), (4, 5)]),
    "einsum_implicit": Case(lambda a, b: lib(a).einsum("ij,jk", [a, b]), np.matmul, [(3, 4), (4, 5)]),
    "einsum_implicit_sorted": Case(lambda a: lib(a).einsum("ba", a), np.transpose, [(3, 4)]),
    "einsum_trace": Case(lambda a: lib(a).einsum("ii", a), np.trace, [(3, 3)]),
    "einsum_diagonal": Case(lambda a: lib(a).einsum("ii->i", a), np.diagonal, [(3, 3)]),
    "einsum_diagonal_permuted": Case(lambda a: lib(a).einsum("iij->ji", a), lambda a: np.einsum("iij->ji", a),
                                     [(3, 3, 2)]),
    "einsum_triple_label": Case(lambda a: lib(a).einsum("iji->j", a), lambda a: np.einsum("iji->j", a), [(3, 2, 3)]),
    "einsum_sum": Case(lambda a: lib(a).einsum("ij->", a), np.sum, [(3, 4)]),
    "einsum_summed_in_one_operand": Case(lambda a, b: lib(a).einsum("ijk,j->i", a, b),
                                         lambda a, b: np.einsum("ijk,j->i", a, b), [S, (3,)]),
    "einsum_batch_ellipsis": Case(lambda a, b: lib(a).einsum("...ij,...jk->...ik", a, b), np.matmul, [S, (4, 5)]),
    "einsum_ellipsis_broadcast": Case(lambda a, b: lib(a).einsum("b...,b...->...", a, b),
                                      lambda a, b: (a * b).sum(0), [(2, 1, 3), (2, 4, 1)]),
    "einsum_ellipsis_summed": Case(lambda a: lib(a).einsum("...i->", a), np.sum, [S]),
    "einsum_ellipsis_diagonal": Case(lambda a: lib(a).einsum("...ii->...i", a),
                                     lambda a: np.diagonal(a, 0, -2, -1), [(2, 3, 3)]),
    "einsum_label_broadcast": Case(lambda a, b: lib(a).einsum("i,i->i", a, b), np.multiply, [(3,), (1,)]),
    "einsum_three_operands": Case(lambda a, b, c: lib(a).einsum("ij,jk,kl->il", a, b, c),
                                  lambda a, b, c: a @ b @ c, [(2, 3), (3, 4), (4, 2)]),
    "einsum_same_operand_twice": Case(lambda a: lib(a).einsum("ij,ij->i", a, a), lambda a: (a * a).sum(1), [(3, 4)]),
    "einsum_sublists": Case(lambda a, b: lib(a).einsum(a, [0, 1], b, [1, 2], [2, 0]), lambda a, b: (a @ b).T,
                            [(3, 4), (4, 5)]),
    "einsum_sublists_ellipsis": Case(lambda a, b: lib(a).einsum(a, [Ellipsis, 1], b, [1, 2]), np.matmul,
                                     [S, (4, 2)]),
    # products
    "mm": Case(lambda a, b: a.mm(b), np.matmul, [(3, 4), (4, 5)]),
    "bmm": Case(lambda a, b: lib(a).bmm(a, b), np.matmul, [S, (2, 4, 5)]),
    "mv": Case(lambda a, b: lib(a).mv(a, b), np.matmul, [(3, 4), (4,)]),
    "dot": Case(lambda a, b: a.dot(b), np.dot, [(4,), (4,)]),
    "vdot": Case(lambda a, b: lib(a).vdot(a, b), np.vdot, [(4,), (4,)]),
    "inner": Case(lambda a, b: lib(a).inner(a, b), np.inner, [S, (3, 4)]),
    "inner_scalar": Case(lambda a, b: a.inner(b), np.inner, [(), (3, 4)]),
    "outer": Case(lambda a, b: lib(a).outer(a, b), np.outer, [(3,), (4,)]),
    "ger": Case(lambda a, b: a.ger(b), np.outer, [(3,), (2,)]),
    "kron": Case(lambda a, b: lib(a).kron(a, b), np_kron, [(2, 3), (3, 2)]),
    "kron_mixed_dims": Case(lambda a, b: a.kron(b), np_kron, [(3,), (2, 2)]),
    "tensordot_int": Case(lambda a, b: lib(a).tensordot(a, b, dims=2), lambda a, b: np.tensordot(a, b, 2),
                          [S, (3, 4, 2)]),
    "tensordot_pair": Case(lambda a, b: lib(a).tensordot(a, b, ([0, 2], [2, 0])),
                           lambda a, b: np.tensordot(a, b, ([0, 2], [2, 0])), [S, (4, 5, 2)]),
    "tensordot_outer": Case(lambda a, b: lib(a).tensordot(a, b, 0), lambda a, b: np.tensordot(a, b, 0),
                            [(2, 3), (2,)]),
    "cross": Case(lambda a, b: lib(a).cross(a, b, dim=1), lambda a, b: np_cross(a, b, 1), [(4, 3), (4, 3)]),
    "cross_broadcast": Case(lambda a, b: a.cross(b, dim=-1), lambda a, b: np_cross(a, b, -1), [(2, 5, 3), (1, 5, 3)]),
    "cross_first_dim": Case(lambda a, b: lib(a).cross(a, b, 0), lambda a, b: np_cross(a, b, 0), [(3, 4), (3, 4)]),
    "matrix_power": Case(lambda x: x.matrix_power(3), lambda x: np_matrix_power(x, 3), [(3, 3)]),
    "matrix_power_batched": Case(lambda x: lib(x).matrix_power(x, 6), lambda x: np_matrix_power(x, 6), [(2, 3, 3)]),
    "matrix_power_negative": Case(lambda x: lib(x).matrix_power(well_conditioned(x), -2),
                                  lambda x: np_matrix_power(np_well_conditioned(x), -2), [(3, 3)]),
    "inverse": Case(lambda x: well_conditioned(x).inverse(), lambda x: np.linalg.inv(np_well_conditioned(x)),
                    [(2, 3, 3)]),
    # beta * input + alpha * product (the input broadcast)
    "addmm": Case(lambda c, a, b: lib(a).addmm(c, a, b), lambda c, a, b: c + a @ b, [(3, 5), (3, 4), (4, 5)]),
    "addmm_scaled_broadcast": Case(lambda c, a, b: c.addmm(a, b, beta=0.5, alpha=-2),
                                   lambda c, a, b: 0.5 * c - 2 * (a @ b), [(5,), (3, 4), (4, 5)]),
    "addmm_beta_zero": Case(lambda c, a, b: lib(a).addmm(c, a, b, beta=0), lambda c, a, b: a @ b,
                            [(3, 5), (3, 4), (4, 5)]),
    "addmv": Case(lambda c, a, b: lib(a).addmv(c, a, b, alpha=3), lambda c, a, b: c + 3 * (a @ b),
                  [(1,), (3, 4), (4,)]),
    "addr": Case(lambda c, a, b: c.addr(a, b, beta=2), lambda c, a, b: 2 * c + np.outer(a, b), [(3, 1), (3,), (4,)]),
    "baddbmm": Case(lambda c, a, b: lib(a).baddbmm(c, a, b, beta=-1, alpha=0.5), lambda c, a, b: -c + 0.5 * (a @ b),
                    [(3, 5), S, (2, 4, 5)]),
    "addbmm": Case(lambda c, a, b: c.addbmm(a, b), lambda c, a, b: c + (a @ b).sum(0), [(3, 5), S, (2, 4, 5)]),
    # torch.linalg's names
    "linalg_vector_norm": Case(lambda x: lib(x).linalg.vector_norm(x), lambda x: np.linalg.norm(x.ravel()), [S]),
    "linalg_vector_norm_1": Case(lambda x: lib(x).linalg.vector_norm(x, 1, dim=1, keepdim=True),
                                 lambda x: np.abs(x).sum(1, keepdims=True), [S]),
    "linalg_vector_norm_3": Case(lambda x: lib(x).linalg.vector_norm(x, 3, (0, 2)),
                                 lambda x: (np.abs(x) ** 3).sum((0, 2)) ** (1 / 3), [S]),
    "linalg_vector_norm_half": Case(lambda x: lib(x).linalg.vector_norm(x, 0.5, -1),
                                    lambda x: np.sqrt(np.abs(x)).sum(-1) ** 2, [M], "n"),
    "linalg_vector_norm_negative": Case(lambda x: lib(x).linalg.vector_norm(x, -1, 0),
                                        lambda x: 1 / (1 / np.abs(x)).sum(0), [M], "n"),
    "linalg_vector_norm_inf": Case(lambda x: lib(x).linalg.vector_norm(x, float("inf"), dim=(1, 2)),
                                   lambda x: np.abs(x).max((1, 2)), [S]),
    "linalg_vector_norm_minus_inf": Case(lambda x: lib(x).linalg.vector_norm(x, -float("inf")),
                                         lambda x: np.abs(x).min(), [S]),
    "linalg_matrix_norm_fro": Case(lambda x: lib(x).linalg.matrix_norm(x), lambda x: np.linalg.norm(x, axis=(1, 2)),
                                   [S]),
    "linalg_matrix_norm_1": Case(lambda x: lib(x).linalg.matrix_norm(x, 1), lambda x: np.linalg.norm(x, 1), [M]),
    "linalg_matrix_norm_minus_inf_dims": Case(lambda x: lib(x).linalg.matrix_norm(x, -float("inf"), (2, 0), True),
                                              lambda x: np.abs(x).sum(0, keepdims=True).min(2, keepdims=True), [S]),
    "linalg_norm": Case(lambda x: lib(x).linalg.norm(x), lambda x: np.linalg.norm(x.ravel()), [S]),
    "linalg_norm_dim": Case(lambda x: lib(x).linalg.norm(x, dim=1), lambda x: np.linalg.norm(x, axis=1), [S]),
    "linalg_norm_matrix_inf": Case(lambda x: lib(x).linalg.norm(x, float("inf")),
                                   lambda x: np.linalg.norm(x, np.inf), [M]),
    "linalg_norm_fro_dims": Case(lambda x: lib(x).linalg.norm(x, "fro", (0, 2)),
                                 lambda x: np.linalg.norm(x, "fro", (0, 2)), [S]),
    "linalg_solve": Case(lambda a, b: lib(a).linalg.solve(well_conditioned(a), b),
                         lambda a, b: np.linalg.solve(np_well_conditioned(a), b), [(3, 3), (3, 2)]),
    "linalg_solve_vector_batched": Case(lambda a, b: lib(a).linalg.solve(well_conditioned(a), b),
                                        lambda a, b: np.linalg.solve(np_well_conditioned(a), b[..., None])[..., 0],
                                        [(2, 3, 3), (2, 3)]),
    "linalg_solve_broadcast": Case(lambda a, b: lib(a).linalg.solve(well_conditioned(a), b),
                                   lambda a, b: np.linalg.solve(np_well_conditioned(a), b), [(3, 3), (2, 3, 1)]),
    "linalg_solve_right": Case(lambda a, b: lib(a).linalg.solve(well_conditioned(a), b, left=False),
                               lambda a, b: b @ np.linalg.inv(np_well_conditioned(a)), [(2, 2), (3, 2)]),
    "linalg_inv": Case(lambda x: lib(x).linalg.inv(well_conditioned(x)),
                       lambda x: np.linalg.inv(np_well_conditioned(x)), [(3, 3)]),
    "linalg_cross": Case(lambda a, b: lib(a).linalg.cross(a, b), lambda a, b: np.cross(a, b), [(3, 3), (1, 3)]),
    "linalg_vecdot": Case(lambda a, b: lib(a).linalg.vecdot(a, b, dim=0), lambda a, b: (a * b).sum(0),
                          [(3, 4), (3, 1)]),
    "linalg_multi_dot": Case(lambda a, b, c: lib(a).linalg.multi_dot([a, b, c]), lambda a, b, c: a @ b @ c,
                             [(3,), (3, 4), (4,)]),
    "linalg_diagonal": Case(lambda x: lib(x).linalg.diagonal(x, offset=1), lambda x: np.diagonal(x, 1, -2, -1), [S]),
    "linalg_matrix_power": Case(lambda x: lib(x).linalg.matrix_power(x, 2), lambda x: x @ x, [(3, 3)]),
}


@pytest.mark.parametrize("name", CASES)
def test_forward_matches_numpy(name, rng):
    case = CASES[name]
    assert_forward(case.fn, case.ref, case_arrays(rng, case))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", CASES)
def test_gradcheck(name, layout, rng):
    case = CASES[name]
    check(case.fn, case_arrays(rng, case, layout))


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.twice])
def test_second_derivative(name, rng):
    case = CASES[name]
    check_second(case.fn, case_arrays(rng, case), rng)


# --- results without gradients ---------------------------------------------------------------

def test_repeat_interleave_of_counts_alone_gives_indices():
    out = nnkit.repeat_interleave(nnkit.tensor([1, 0, 3]))
    assert out.tolist() == [0, 2, 2, 2] and out.dtype == nnkit.int64


def test_broadcast_shapes():
    assert nnkit.broadcast_shapes((5, 1, 3), (2, 1), 3) == (5, 2, 3)
    assert nnkit.broadcast_shapes((0, 1), (3,)) == (0, 3)
    assert nnkit.broadcast_shapes() == ()


def test_integer_and_bool_results_keep_their_dtype():
    ints = nnkit.arange(9).reshape(3, 3)
    assert nnkit.trace(ints).dtype == nnkit.int64 and nnkit.trace(ints).item() == 12
    assert nnkit.matrix_power(ints, 2).tolist() == (ints.numpy() @ ints.numpy()).tolist()
    assert nnkit.matrix_power(ints, 0).tolist() == np.eye(3, dtype=np.int64).tolist()
    assert nnkit.tril(ints > 3).tolist() == np.tril(ints.numpy() > 3).tolist()
    assert nnkit.einsum("ij,jk->ik", ints, ints).tolist() == (ints.numpy() @ ints.numpy()).tolist()


def test_matrix_power_zero_is_the_identity_outside_the_graph_as_in_pytorch():
    x = nnkit.randn(2, 3, 3, requires_grad=True)
    out = x.matrix_power(0)
    assert out.tolist() == [np.eye(3).tolist()] * 2 and not out.requires_grad


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_einsum_keeps_16_bit_dtypes_and_accumulates_in_float32(dtype):
    dtype = getattr(nnkit, dtype)
    if dtype is None:
        pytest.skip("bfloat16 needs ml_dtypes")
    a = nnkit.full((2, 3000), 0.1, dtype=dtype)
    out = nnkit.einsum("ij,kj->ik", a, a)
    assert out.dtype == dtype
    assert abs(out[0, 0].item() - 30.0) < 0.1  # the sum of 3,000 products, accumulated in float32


def test_chunk_and_split_edge_cases_as_pytorch():
    sizes = lambda pieces: [tuple(p.shape) for p in pieces]  # noqa: E731
    assert sizes(nnkit.arange(6).chunk(4)) == [(2,), (2,), (2,)]  # fewer pieces than asked
    assert sizes(nnkit.arange(0).chunk(3)) == [(0,), (0,), (0,)]
    assert sizes(nnkit.zeros(0, 3).split(2)) == [(0, 3)]
    assert sizes(nnkit.zeros(0, 3).split(0)) == [(0, 3)]
    assert sizes(nnkit.zeros(0, 2).unbind()) == []
    assert sizes(nnkit.arange(7).tensor_split(9)) == [(1,)] * 7 + [(0,)] * 2
    assert sizes(nnkit.arange(7).tensor_split((5, 2))) == [(5,), (0,), (5,)]


def test_cat_skips_empty_1d_tensors_but_promotes_with_them():
    m = nnkit.ones(2, 3)
    out = nnkit.cat([nnkit.zeros(0, dtype=nnkit.float64), m, nnkit.zeros(0)], dim=1)
    assert out.shape == (2, 3) and out.dtype == nnkit.float64
    assert nnkit.cat([nnkit.zeros(0), nnkit.zeros(0)], dim=5).shape == (0,)


def test_meshgrid_without_indexing_warns_and_uses_ij():
    with pytest.warns(UserWarning, match="indexing"):
        x, y = nnkit.meshgrid(nnkit.arange(3), nnkit.arange(2))
    assert x.shape == (3, 2) and y.tolist() == [[0, 1]] * 3


def test_cross_without_dim_warns_and_takes_the_first_dim_of_size_3():
    a, b = nnkit.tensor(np.eye(3)[[0, 1, 2, 0]]), nnkit.tensor(np.eye(3)[[1, 2, 0, 2]])
    with pytest.warns(UserWarning, match="dim"):
        out = nnkit.cross(a, b)  # shape (4, 3): dim 1 is the first of size 3
    np.testing.assert_array_equal(out.numpy(), np.cross(a.numpy(), b.numpy()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        square = nnkit.cross(nnkit.tensor(np.eye(3)), nnkit.tensor(np.eye(3)[[1, 2, 0]]))
    np.testing.assert_array_equal(square.numpy(), np.cross(np.eye(3), np.eye(3)[[1, 2, 0]], axis=0))


def test_addmm_with_beta_zero_ignores_nan_in_the_input():
    out = nnkit.addmm(nnkit.full((2, 2), float("nan")), nnkit.eye(2), nnkit.eye(2), beta=0)
    assert out.tolist() == [[1.0, 0.0], [0.0, 1.0]]


def test_in_place_addmm_changes_the_tensor_and_records_the_op():
    c = nnkit.ones(2, 2, requires_grad=True)
    a = nnkit.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    out = c * 1
    out.addmm_(a, a, alpha=2)
    np.testing.assert_allclose(out.detach().numpy(), 1 + 2 * a.detach().numpy() @ a.detach().numpy())
    out.sum().backward()
    np.testing.assert_allclose(c.grad.numpy(), np.ones((2, 2)))
    np.testing.assert_allclose(a.grad.numpy(), 2 * (np.ones((2, 2)) @ a.detach().numpy().T
                                                    + a.detach().numpy().T @ np.ones((2, 2))))


def test_vector_norm_has_zero_gradients_where_its_formula_is_zero_over_zero():
    for ord in (2, 1, 3, 0.5, -1):
        x = nnkit.tensor([0.0, 0.0, 0.0], dtype=nnkit.float64, requires_grad=True)
        (g,) = nnkit.autograd.grad(nnkit.linalg.vector_norm(x, ord), x, create_graph=True)
        assert g.tolist() == [0.0, 0.0, 0.0]
        (gg,) = nnkit.autograd.grad(g.sum(), x)
        assert np.isfinite(gg.numpy()).all()
    y = nnkit.tensor([0.0, 2.0], dtype=nnkit.float64, requires_grad=True)
    nnkit.linalg.vector_norm(y, 0.5).backward()
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 1.0])


def test_vector_norm_of_order_zero_counts_the_nonzeros():
    x = nnkit.tensor([[1.0, 0.0, -2.0], [0.0, 0.0, 3.0]])
    assert nnkit.linalg.vector_norm(x, 0).item() == 3.0
    assert nnkit.linalg.vector_norm(x, 0, dim=1).tolist() == [2.0, 1.0]


def test_singular_matrices_raise_linalg_error_a_runtime_error():
    assert issubclass(nnkit.linalg.LinAlgError, RuntimeError)
    singular = nnkit.zeros(2, 2)
    for op in (lambda: nnkit.linalg.inv(singular), lambda: nnkit.linalg.solve(singular, nnkit.ones(2))):
        with pytest.raises(nnkit.linalg.LinAlgError, match="singular"):
            op()


# --- views: memory and version counters shared with the input ------------------------------------

VIEWS = {
    "diagonal": lambda x: x.diagonal(1),
    "unfold": lambda x: x.unfold(1, 2, 2),
    "narrow": lambda x: x.narrow(0, 1, 2),
    "select": lambda x: x.select(1, 2),
    "movedim": lambda x: x.movedim(0, 1),
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "t": lambda x: x.t(),
    "unflatten": lambda x: x.unflatten(1, (2, 2)),
    "view": lambda x: x.view(-1),
    "unbind": lambda x: x.unbind(1)[3],
    "tensor_split": lambda x: x.tensor_split(2, 1)[1],
}


@pytest.mark.parametrize("name", VIEWS)
def test_views_write_through_and_share_the_version_counter(name):
    x = nnkit.zeros(3, 4)
    y = VIEWS[name](x)
    y.fill_(1.0)
    assert x._version == y._version == 1
    assert x.sum().item() == y.numel()  # the writes landed in x (no window overlaps here)


def test_changing_the_input_of_a_view_op_in_place_is_caught_at_backward():
    x = nnkit.randn(3, 3, requires_grad=True)
    base = x * 1
    d = base.diagonal()
    loss = (d * d).sum()  # mul saved d, which shares base's memory
    with nnkit.no_grad():
        base.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation|in place|in-place"):
        loss.backward()


def test_view_raises_where_reshape_would_copy():
    m = nnkit.arange(12.0).reshape(3, 4)
    with pytest.raises(RuntimeError, match="view: .* use reshape"):
        m.T.view(-1)
    assert m.T.reshape(-1).tolist() == m.numpy().T.reshape(-1).tolist()
    assert m.T.view(4, 3).shape == (4, 3)


# --- errors, as PyTorch raises them, naming the op ---------------------------------------------

m, v, x = nnkit.ones(3, 4), nnkit.ones(3), nnkit.ones(2, 3, 4)


@pytest.mark.parametrize("op, error, message", [
    (lambda: m.roll((1, 2), 0), RuntimeError, "roll: shifts"),
    (lambda: m.roll((1, 2)), RuntimeError, "roll: shifts"),
    (lambda: nnkit.tensor(1.0).roll(1, 0), IndexError, "roll"),
    (lambda: m.diagonal(0, 1, -1), RuntimeError, "diagonal: dim1 and dim2"),
    (lambda: v.diagonal(), IndexError, "diagonal: dim 1 is out of range"),
    (lambda: nnkit.diag(x), RuntimeError, "diag: supports 1-d or 2-d"),
    (lambda: nnkit.diag_embed(m, 0, 0, 0), RuntimeError, "diag_embed: dim1 and dim2"),
    (lambda: nnkit.tril(v), RuntimeError, "tril: input tensor must have at least 2 dimensions"),
    (lambda: nnkit.triu(v), RuntimeError, "triu: input tensor must have at least 2 dimensions"),
    (lambda: m.repeat_interleave(nnkit.tensor([1, 0])), RuntimeError, "repeat_interleave: repeats must have the same"),
    (lambda: m.repeat_interleave(nnkit.tensor([1, -1, 2]), 0), RuntimeError, "cannot be negative"),
    (lambda: m.repeat_interleave(-1), RuntimeError, "must be non-negative"),
    (lambda: m.repeat_interleave(nnkit.tensor([[1, 2, 3]]), 0), RuntimeError, "0-d or 1-d"),
    (lambda: m.repeat_interleave(2, 0, output_size=5), RuntimeError, "output_size 5"),
    (lambda: m.repeat_interleave([1, 2, 3], 0), TypeError, "repeats must be an int"),
    (lambda: m.unfold(1, 5, 1), RuntimeError, "unfold: the window size 5"),
    (lambda: m.unfold(1, 2, 0), RuntimeError, "unfold: step must be > 0"),
    (lambda: m.unfold(2, 2, 1), IndexError, "unfold: dim 2 is out of range"),
    (lambda: nnkit.meshgrid(v, m, indexing="ij"), RuntimeError, "meshgrid: expects 0-d or 1-d"),
    (lambda: nnkit.meshgrid(v, nnkit.arange(2), indexing="ij"), RuntimeError, "meshgrid: .* same dtype"),
    (lambda: nnkit.meshgrid(v, indexing="yx"), RuntimeError, "meshgrid: indexing must be"),
    (lambda: nnkit.meshgrid(indexing="ij"), RuntimeError, "meshgrid: expects a non-empty"),
    (lambda: nnkit.t(x), RuntimeError, r"t: expects a tensor with <= 2 dimensions"),
    (lambda: v.mT, RuntimeError, "tensor.mT is only supported on matrices"),
    (lambda: v.mH, RuntimeError, "tensor.mH is only supported on matrices"),
    (lambda: x.H, RuntimeError, "tensor.H is only supported on matrices"),
    (lambda: v.adjoint(), RuntimeError, "adjoint"),
    (lambda: x.movedim((0, 1), (2,)), RuntimeError, "movedim: source"),
    (lambda: x.movedim((0, 0), (2, 1)), RuntimeError, "movedim: dim 0 appears multiple times"),
    (lambda: x.moveaxis(0, 3), IndexError, "movedim: dim 3 is out of range"),
    (lambda: x.unflatten(3, (2, 2)), IndexError, "unflatten: dim 3 is out of range"),
    (lambda: x.unflatten(1, (2, 2)), RuntimeError, "unflatten: provided sizes"),
    (lambda: x.unflatten(1, ()), RuntimeError, "unflatten: sizes must be non-empty"),
    (lambda: x.unflatten(1, (-1, -1)), RuntimeError, "unflatten: sizes"),
    (lambda: m.narrow(1, -5, 1), IndexError, "narrow: start -5 is out of range"),
    (lambda: m.narrow(1, 3, 2), RuntimeError, r"narrow: start \(3\) \+ length \(2\) exceeds"),
    (lambda: nnkit.tensor(1.0).narrow(0, 0, 1), RuntimeError, "narrow: cannot be applied to a 0-d"),
    (lambda: m.select(1, 4), IndexError, "select: index 4 is out of range"),
    (lambda: nnkit.tensor(1.0).select(0, 0), IndexError, "select: cannot be applied to a 0-d"),
    (lambda: m.tile(-1), RuntimeError, "repeat: repeat counts must be non-negative"),
    (lambda: m.squeeze((0, -2)), RuntimeError, "squeeze: dim 0 appears multiple times"),
    (lambda: x.flip(0, -3), RuntimeError, "flip: dim 0 appears multiple times"),
    (lambda: nnkit.fliplr(v), RuntimeError, "fliplr: input must be at least 2-d"),
    (lambda: nnkit.flipud(nnkit.tensor(1.0)), RuntimeError, "flipud: input must be at least 1-d"),
    (lambda: m.rot90(1, (0, 0)), RuntimeError, "rot90: expects two different"),
    (lambda: m.rot90(1, (0,)), RuntimeError, "rot90: expects exactly 2"),
    (lambda: v.rot90(), RuntimeError, "rot90: expects a tensor with at least 2 dims"),
    (lambda: nnkit.arange(7).tensor_split(0), RuntimeError, "tensor_split: number of sections"),
    (lambda: nnkit.arange(7).tensor_split(nnkit.tensor([1.0])), RuntimeError, "tensor_split: .* integer"),
    (lambda: nnkit.tensor(1.0).tensor_split(1), RuntimeError, "tensor_split: expects at least a 1-dimensional"),
    (lambda: m.hsplit(3), RuntimeError, "hsplit: the size 4 of dim 1 is not divisible by 3"),
    (lambda: v.vsplit(3), RuntimeError, "vsplit: requires a tensor with at least 2 dims"),
    (lambda: m.dsplit(2), RuntimeError, "dsplit: requires a tensor with at least 3 dims"),
    (lambda: m.split(0, 1), RuntimeError, "split: split_size must be positive"),
    (lambda: m.split(-1, 1), RuntimeError, "split: split_size must be positive"),
    (lambda: m.split([1, 2], 1), RuntimeError, r"split: sizes \[1, 2\] must be non-negative and sum exactly to 4"),
    (lambda: m.split([1, -1, 4], 1), RuntimeError, "split: sizes"),
    (lambda: nnkit.tensor(1.0).split(1), RuntimeError, "split: expects at least a 1-dimensional"),
    (lambda: nnkit.arange(6).chunk(0), RuntimeError, "chunk: expects `chunks` to be greater than 0"),
    (lambda: nnkit.tensor(1.0).chunk(1), RuntimeError, "chunk: expects at least a 1-dimensional"),
    (lambda: nnkit.tensor(1.0).unbind(), IndexError, "unbind: cannot be applied to a 0-d"),
    (lambda: v.broadcast_to((2, 4)), RuntimeError, "expand: cannot expand shape"),
    (lambda: nnkit.broadcast_tensors(v, m), RuntimeError, "broadcast_shapes: shapes"),
    (lambda: nnkit.broadcast_shapes((-1, 2)), ValueError, "broadcast_shapes: a dim of negative length"),
    (lambda: m.reshape(-2, 6), RuntimeError, "reshape: cannot reshape"),
    (lambda: m.view_as(x), RuntimeError, "reshape: cannot reshape"),
    (lambda: nnkit.cat([m, nnkit.zeros(2)]), RuntimeError, "cat: tensors must have the same number of dims"),
    (lambda: nnkit.cat([m, nnkit.zeros(0, 3)]), RuntimeError, r"cat: shapes .* do not match outside dim 0"),
    (lambda: nnkit.cat([nnkit.tensor(1.0), nnkit.tensor(2.0)]), RuntimeError, "cat: a zero-dimensional tensor"),
    (lambda: nnkit.cat([m], 2), IndexError, "cat: dim 2 is out of range"),
    (lambda: nnkit.stack([]), RuntimeError, "stack: expects a non-empty list"),
    (lambda: nnkit.stack([m, m.T]), RuntimeError, r"stack: .* \(3, 4\) at entry 0 and \(4, 3\) at entry 1"),
    (lambda: nnkit.stack([m, m], 3), IndexError, "stack: dim 3 is out of range"),
    (lambda: nnkit.einsum("ij,jk->ii", m, m.T), RuntimeError, "output subscript i appears more than once"),
    (lambda: nnkit.einsum("ij,jk->iz", m, m.T), RuntimeError, "output subscript z does not appear"),
    (lambda: nnkit.einsum("ij,jk->ik", m, m), RuntimeError, "subscript j has size 3 for operand 1"),
    (lambda: nnkit.einsum("ij,jk->ik", m), RuntimeError, "fewer operands"),
    (lambda: nnkit.einsum("ij", m, m), RuntimeError, "more operands"),
    (lambda: nnkit.einsum("ijk,jk->ik", m, m.T), RuntimeError, r"the number of subscripts .* \(3\) does not match"),
    (lambda: nnkit.einsum("ii->i", nnkit.ones(1, 3)), RuntimeError, "subscript i is repeated for operand 0"),
    (lambda: nnkit.einsum("1i->", v), RuntimeError, "invalid subscript"),
    (lambda: nnkit.einsum(".i", m), RuntimeError, "invalid subscript"),
    (lambda: nnkit.einsum("i,i"), ValueError, "einsum"),
    (lambda: nnkit.einsum("i,i", v, v.double()), RuntimeError, "same dtype"),
    (lambda: nnkit.bmm(m, m.T), RuntimeError, "bmm: the first batch must be a 3-d tensor"),
    (lambda: nnkit.bmm(x, nnkit.ones(3, 4, 5)), RuntimeError, "bmm: batches of shapes"),
    (lambda: nnkit.bmm(x, x.transpose(1, 2).double()), RuntimeError, "bmm: .* same dtype"),
    (lambda: nnkit.mm(m, x), RuntimeError, "mm: mat2 must be a 2-d tensor"),
    (lambda: nnkit.mm(m, m), RuntimeError, r"mm: shapes \(3, 4\) and \(3, 4\) cannot be multiplied"),
    (lambda: nnkit.mv(m, v), RuntimeError, "mv: size mismatch"),
    (lambda: nnkit.mv(x, nnkit.ones(4)), RuntimeError, "mv: input must be a 2-d tensor"),
    (lambda: nnkit.dot(v, nnkit.ones(4)), RuntimeError, "dot: inconsistent sizes"),
    (lambda: nnkit.dot(m, m), RuntimeError, "dot: input must be a 1-d tensor"),
    (lambda: nnkit.dot(v, v.double()), RuntimeError, "dot: .* same dtype"),
    (lambda: nnkit.inner(m, m.T), RuntimeError, "inner: the last dims must match"),
    (lambda: nnkit.outer(m, v), RuntimeError, "outer: input must be a 1-d tensor"),
    (lambda: nnkit.cross(nnkit.ones(4, 4), nnkit.ones(4, 4)), RuntimeError, "cross: no dim of size 3"),
    (lambda: nnkit.cross(nnkit.ones(4, 3), nnkit.ones(4, 3), dim=0), RuntimeError, "cross: inputs dim 0 must have"),
    (lambda: nnkit.cross(nnkit.ones(4, 3), nnkit.ones(3), dim=-1), RuntimeError, "cross: inputs must have the same"),
    (lambda: nnkit.tensordot(x, x, dims=-1), RuntimeError, "tensordot: dims must be between 0"),
    (lambda: nnkit.tensordot(x, m, dims=([1], [0, 1])), RuntimeError, "tensordot: both dim lists"),
    (lambda: nnkit.tensordot(m, m, ([1, 1], [0, 0])), RuntimeError, "tensordot: a dim appears more than once"),
    (lambda: nnkit.tensordot(x, m, dims=([1], [1])), RuntimeError, "tensordot: contracted dims must match"),
    (lambda: nnkit.trace(x), RuntimeError, "trace: input must be a 2-d tensor"),
    (lambda: nnkit.matrix_power(m, 2), RuntimeError, "matrix_power: expected a square matrix"),
    (lambda: nnkit.matrix_power(nnkit.eye(3), 2.0), TypeError, "matrix_power: n must be an int"),
    (lambda: nnkit.matrix_power(nnkit.zeros(3, 3), -1), RuntimeError, "inverse: .* singular"),
    (lambda: nnkit.inverse(nnkit.eye(3, dtype=nnkit.int64)), RuntimeError, "inverse: expected a floating-point"),
    (lambda: nnkit.addmm(nnkit.ones(2, 3, 5), m, nnkit.ones(4, 5)), RuntimeError, "addmm: input of shape"),
    (lambda: nnkit.addmm(nnkit.ones(3, 5), x, x), RuntimeError, "mm: input must be a 2-d tensor"),
    (lambda: nnkit.baddbmm(nnkit.ones(2, 3, 5).double(), x, nnkit.ones(2, 4, 5)), RuntimeError, "baddbmm: .* dtype"),
    (lambda: nnkit.addmv(nnkit.ones(4), m, nnkit.ones(4)), RuntimeError, "addmv: input of shape"),
    (lambda: nnkit.addbmm(nnkit.ones(2, 3, 5), x, nnkit.ones(2, 4, 5)), RuntimeError, "addbmm: input of shape"),
    (lambda: nnkit.linalg.vector_norm(nnkit.ones(2, dtype=nnkit.int64)), RuntimeError, "floating-point tensor"),
    (lambda: nnkit.linalg.vector_norm(m, "fro"), TypeError, "linalg.vector_norm: ord must be a number"),
    (lambda: nnkit.linalg.vector_norm(m.double(), dtype=nnkit.float32), RuntimeError, "without narrowing"),
    (lambda: nnkit.linalg.vector_norm(nnkit.zeros(0), float("inf")), RuntimeError, "empty tensor"),
    (lambda: nnkit.linalg.matrix_norm(m, "nuc"), NotImplementedError, "singular values"),
    (lambda: nnkit.linalg.matrix_norm(m, 3), RuntimeError, "linalg.matrix_norm: order 3 is not supported"),
    (lambda: nnkit.linalg.matrix_norm(m, dim=(1, 1)), RuntimeError, "linalg.matrix_norm: dims must be different"),
    (lambda: nnkit.linalg.matrix_norm(v), RuntimeError, "linalg.matrix_norm: the input must have at least 2 dims"),
    (lambda: nnkit.linalg.norm(x, 2), RuntimeError, "linalg.norm: if dim is not given but ord is"),
    (lambda: nnkit.linalg.norm(x, dim=(0, 1, 2)), RuntimeError, "linalg.norm: if dim is given"),
    (lambda: nnkit.linalg.norm(v, "fro"), RuntimeError, "linalg.matrix_norm"),
    (lambda: nnkit.linalg.solve(nnkit.eye(3), nnkit.ones(2)), RuntimeError, "linalg.solve: incompatible shapes"),
    (lambda: nnkit.linalg.solve(nnkit.eye(3), v.double()), RuntimeError, "linalg.solve: .* same dtype"),
    (lambda: nnkit.linalg.solve(m, v), RuntimeError, "linalg.solve: expected a square matrix"),
    (lambda: nnkit.linalg.cross(m, m), RuntimeError, "linalg.cross: inputs dim -1 must have length 3"),
    (lambda: nnkit.linalg.vecdot(m, v.double()), RuntimeError, "linalg.vecdot: .* same dtype"),
    (lambda: nnkit.linalg.multi_dot([v]), RuntimeError, "linalg.multi_dot: expected at least 2 tensors"),
    (lambda: nnkit.linalg.multi_dot([x, m.T]), RuntimeError, "linalg.multi_dot: tensor 0 must be 1-d or 2-d"),
])
def test_errors_name_the_op(op, error, message):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cross's warning about its default dim
        with pytest.raises(error, match=message):
            op()
