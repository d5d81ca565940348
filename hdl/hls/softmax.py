"""The HLS kernel entry of softmax: ``nnet::softmax`` with the artifact's two tables."""

from __future__ import annotations

from fxp.nn.layers.softmax import table_format

from .kernel import Kernel, KernelContext, array_entry, type_entry

__all__ = ["softmax_kernel"]


def softmax_kernel(ctx: KernelContext) -> Kernel:
    """``nnet::softmax`` over the last axis (each pixel of an image on its own)."""
    model, layer, i = ctx.model, ctx.layer, ctx.layer.index
    tensors = model.tensors(i)
    exp, recip = tensors["exp_table"], tensors["recip_table"]
    n, out_fmt = ctx.shape[-1], layer.output.fmt
    rows = ctx.n // n
    tb, rb = exp.shape[0].bit_length() - 1, recip.shape[0].bit_length() - 1
    table = table_format(out_fmt)
    return Kernel(
        name="softmax", header="nnet_softmax.h", out_fmt=out_fmt, n_out=ctx.n,
        types=[type_entry(f"table{i}_t", "exp and reciprocal tables", table),
               type_entry(f"accum{i}_t", f"accumulator (exact sum of {n})", table.sum(n)),
               type_entry(ctx.out_type, "output", out_fmt)],
        config_types=[("accum_t", f"accum{i}_t"), ("table_t", f"table{i}_t")],
        config_values=[("n", n), ("rows", rows), ("table_bits", tb), ("recip_bits", rb)],
        args=[f"exp_table{i}", f"recip_table{i}"],
        arrays=[array_entry(i, ctx.label, f"exp table ({tb} index bits)", f"exp_table{i}",
                            f"table{i}_t", table, exp.raw),
                array_entry(i, ctx.label, f"reciprocal table ({rb} index bits)",
                            f"recip_table{i}", f"table{i}_t", table, recip.raw)],
        note="" if rows == 1 else f", per pixel of {'x'.join(map(str, ctx.shape[:-1]))}",
        loop=rows if rows > 1 else None)
