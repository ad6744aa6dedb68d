"""The convolution-arithmetic page's model: settings, values, presets, one recompute, the formula panel.

`compute(Settings) -> Lab` gathers everything the page shows (values, output maps, the grid the window
slides on, the animation steps, per-channel partial sums and the formulas with numbers substituted).
It raises ValueError with one student-facing sentence for an impossible setting.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from explorer.convolution import arithmetic as ca

OPERATIONS = ca.OPERATIONS
CONV, MAX, AVG, TCONV = OPERATIONS
VALUE_MODES = ("random", "ones", "typed")
KERNEL_MODES = ("random", "ones", "typed", "edge", "outline", "sharpen", "box blur", "gaussian blur", "identity")
PAD_MODES = ("custom", "valid", "same")
CLASSIC_KERNELS: dict[str, np.ndarray] = {  # lecture 3, "Convolutional Layer" table
    "identity": np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], float),
    "edge": np.array([[1, 0, -1], [0, 0, 0], [-1, 0, 1]], float),
    "outline": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], float),
    "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float),
    "box blur": np.full((3, 3), 1 / 9),
    "gaussian blur": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], float) / 16,
}
MAX_SIZE, MAX_CIN, MAX_K = 32, 3, 7
#: Filters (output channels) the counts take, and the at most MAX_DRAWN of them whose maps are computed and drawn.
MAX_FILTERS, MAX_DRAWN = 4096, 4
MAX_SEED = 1_000_000

# Cell kinds of the grid the window slides on (the figure colours them).
INPUT, PADDING, INSERTED = 0, 1, 2


@dataclass(frozen=True)
class Settings:
    """Every setting of the page (the URL holds each one). Sizes in cells."""
    h: int = 5
    w: int = 5
    k: int = 3
    stride: int = 1
    pad_mode: str = "custom"
    pad: int = 0
    dilation: int = 1
    op: str = CONV
    out_pad: int = 0
    cin: int = 1
    cout: int = 1
    x_mode: str = "random"
    w_mode: str = "random"
    bias: str = "zero"
    seed: int = 0
    x_text: str = ""
    w_text: str = ""
    filt: int = 1  # which output map (1-based) the animation fills


def _grid_text(rows: list[list[float]]) -> str:
    return " / ".join(" ".join(ca.fmt(v).replace("−", "-") for v in r) for r in rows)


def format_grids(a: np.ndarray) -> str:
    """[N, H, W] -> '3 3 2 / 0 0 1 | …' (rows split by '/', grids by '|'), the typed-values format."""
    return " | ".join(_grid_text(g.tolist()) for g in np.asarray(a, float).reshape(-1, *np.shape(a)[-2:]))


def parse_grids(text: str, n: int, h: int, w: int, what: str = "input") -> np.ndarray:
    """'3 3 2 / 0 0 1 | …' -> [n, h, w]; missing cells are 0, extra ones are ignored."""
    out = np.zeros((n, h, w))
    for g, block in enumerate(text.split("|")[:n]):
        for r, row in enumerate([r for r in block.split("/")][:h]):
            for c, tok in enumerate(row.replace(",", " ").split()[:w]):
                try:
                    out[g, r, c] = float(tok.replace("−", "-"))
                except ValueError:
                    raise ValueError(f"The typed {what} values contain '{tok[:12]}', which is not a number: "
                                     "type numbers separated by spaces, rows by '/'.") from None
    return out


PRESETS: dict[str, dict] = {
    "Lecture example (5×5, 3×3 kernel)": dict(
        h=5, w=5, k=3, x_mode="typed", w_mode="typed", x_text="3 3 2 1 0 / 0 0 1 3 1 / 3 1 2 2 3 / 2 0 0 2 2 / 2 0 0 0 1",
        w_text="0 1 2 / 2 2 0 / 0 1 2"),
    "Lecture binary image (kernel 1 0 1 / 0 1 0 / 1 0 1)": dict(
        h=5, w=5, k=3, x_mode="typed", w_mode="typed", x_text="1 1 1 0 0 / 0 1 1 1 0 / 0 0 1 1 1 / 0 0 1 1 0 / 0 1 1 0 0",
        w_text="1 0 1 / 0 1 0 / 1 0 1"),
    "'Same' padding, 3×3 kernel (7×7 → 7×7)": dict(h=7, w=7, k=3, pad_mode="same"),
    "7×7 input, 3×3 kernel, stride 2 → 3×3": dict(h=7, w=7, k=3, stride=2),
    "2×2 max pooling, stride 2": dict(h=4, w=4, k=2, stride=2, op=MAX, x_mode="typed",
                                      x_text="1 1 2 4 / 5 6 7 8 / 3 2 1 0 / 1 2 3 4"),
    "32×32 input, 5×5 filters (32 → 28 → 24)": dict(h=32, w=32, k=5, cin=3, cout=6),
    "Dilated 3×3 kernel (d = 2)": dict(h=7, w=7, k=3, dilation=2),
    "Transposed 3×3, stride 2 (3×3 → 5×5)": dict(h=3, w=3, k=3, stride=2, pad=1, op=TCONV),
    "conv_arithmetic: no padding, no strides": dict(h=4, w=4, k=3),
    "conv_arithmetic: arbitrary padding": dict(h=5, w=5, k=4, pad=2),
    "conv_arithmetic: half padding": dict(h=5, w=5, k=3, pad=1),
    "conv_arithmetic: full padding": dict(h=5, w=5, k=3, pad=2),
    "conv_arithmetic: no padding, strides": dict(h=5, w=5, k=3, stride=2),
    "conv_arithmetic: padding, strides": dict(h=5, w=5, k=3, stride=2, pad=1),
    "conv_arithmetic: padding, strides (odd)": dict(h=6, w=6, k=3, stride=2, pad=1),
}
PRESETS["Lecture 3: ten 5×5×3 filters on a 32 × 32 × 3 input, pad 2 (760 parameters)"] = dict(
    h=32, w=32, k=5, pad=2, cin=3, cout=10)


def preset(name: str) -> Settings:
    """The Settings of a named preset (every other setting at its default)."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; choose one of: {', '.join(PRESETS)}.")
    return replace(Settings(), **PRESETS[name])


def padding_of(s: Settings) -> int:
    """The padding P the settings mean ('valid' is 0, 'same' keeps the size at stride 1)."""
    if s.pad_mode == "valid":
        return 0
    if s.pad_mode == "same":
        if s.op == TCONV:
            raise ValueError("PyTorch has no padding='same' for transposed convolutions: choose 'custom' padding.")
        return ca.same_padding(s.k, s.dilation, s.stride)
    return s.pad


def input_values(s: Settings) -> np.ndarray:
    """The input [C_in, H, W]: seeded small integers 0..4, all ones, or the typed values."""
    if s.x_mode == "typed":
        return parse_grids(s.x_text, s.cin, s.h, s.w, "input")
    if s.x_mode == "ones":
        return np.ones((s.cin, s.h, s.w))
    big = np.random.default_rng([s.seed, 1]).integers(0, 5, size=(MAX_CIN, MAX_SIZE, MAX_SIZE))
    return big[:s.cin, :s.h, :s.w].astype(float)  # cropped, so changing the size keeps the other values


def drawn(s: Settings) -> int:
    """How many of the C_out filters get values and maps (the counts use all of them)."""
    return min(s.cout, MAX_DRAWN)


def kernel_values(s: Settings) -> np.ndarray:
    """The kernels of the drawn filters as [min(C_out, MAX_DRAWN), C_in, K, K] (filter f, channel c)."""
    shape = (drawn(s), s.cin, s.k, s.k)
    if s.w_mode == "typed":
        return parse_grids(s.w_text, shape[0] * s.cin, s.k, s.k, "kernel").reshape(shape)
    if s.w_mode == "ones":
        return np.ones(shape)
    if s.w_mode in CLASSIC_KERNELS:
        if s.k != 3:
            raise ValueError(f"The classic '{s.w_mode}' kernel is 3×3: set the kernel size to 3 or pick other values.")
        return np.broadcast_to(CLASSIC_KERNELS[s.w_mode], shape).copy()
    big = np.random.default_rng([s.seed, 2]).integers(-1, 3, size=(MAX_DRAWN, MAX_CIN, MAX_K, MAX_K))
    return big[:shape[0], :s.cin, :s.k, :s.k].astype(float)


def bias_values(s: Settings) -> np.ndarray:
    """[min(C_out, MAX_DRAWN)] biases of the drawn filters: zeros, or seeded integers −2..2."""
    if s.bias == "random":
        return np.random.default_rng([s.seed, 3]).integers(-2, 3, size=MAX_DRAWN)[:drawn(s)].astype(float)
    return np.zeros(drawn(s))


@dataclass
class Lab:
    """Everything the page shows for one setting. Arrays are float64; sizes in cells."""
    s: Settings
    padding: int
    x: np.ndarray  # [C_in, H, W]
    # The arrays below hold the first D = min(C_out, MAX_DRAWN) filters; `s.cout` may be larger (counts only).
    kernels: np.ndarray  # [D, C_in, K, K] as typed/shown (transposed: weight[c, f] = kernels[f, c])
    bias: np.ndarray  # [D]
    out: np.ndarray  # [D, O_h, O_w]
    grid: np.ndarray  # [C_in, G_h, G_w]: what the window slides on (padded or stretched input)
    kinds: np.ndarray  # [G_h, G_w] INPUT / PADDING / INSERTED
    offset: int  # grid row/col of input cell (0, 0) (may be negative when cropped)
    step_in: int  # grid cells between two consecutive input cells (S for transposed, else 1)
    window_kernels: np.ndarray  # [D, C_in, K, K] the weights under the window (transposed: flipped)
    steps: list[ca.Step]
    partials: np.ndarray  # [D, C_in, O_h, O_w] per-channel partial sums (pooling: per-channel results)
    uncovered_rows: list[int] = field(default_factory=list)  # grid indices no window covers
    uncovered_cols: list[int] = field(default_factory=list)

    @property
    def pooling(self) -> bool:
        return self.s.op in (MAX, AVG)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """(C_out, O_h, O_w) of the whole layer, every filter counted (`out` holds the drawn ones)."""
        return (self.s.cout, *self.out.shape[1:])


def compute(s: Settings) -> Lab:
    """Recompute the whole page for settings `s` (ValueError: one sentence for an impossible setting)."""
    if not (1 <= s.h <= MAX_SIZE and 1 <= s.w <= MAX_SIZE):
        raise ValueError(f"The input height and width go from 1 to {MAX_SIZE} cells.")
    if not 1 <= s.cin <= MAX_CIN:
        raise ValueError(f"Input channels go from 1 to {MAX_CIN} (it is {s.cin}).")
    if not 1 <= s.cout <= MAX_FILTERS:
        raise ValueError(f"Output channels (filters) go from 1 to {MAX_FILTERS:,} (it is {s.cout:,}).")
    if not 0 <= s.seed <= MAX_SEED:
        raise ValueError(f"The random seed goes from 0 to {MAX_SEED:,} (it is {s.seed:,}).")
    if not 1 <= s.filt <= MAX_DRAWN:
        raise ValueError(f"The animated output map goes from 1 to {MAX_DRAWN} (it is {s.filt}).")
    p, x = padding_of(s), input_values(s)
    if s.op in (MAX, AVG):
        s = replace(s, cout=s.cin, filt=min(s.filt, s.cin))
        mode = "max" if s.op == MAX else "avg"
        for n in (s.h, s.w):
            ca.pool_output_size(n, s.k, s.stride, p, s.dilation, mode)
        fn = (lambda a: ca.max_pool2d(a, s.k, s.stride, p, s.dilation)) if s.op == MAX else (
            lambda a: ca.avg_pool2d(a, s.k, s.stride, p))
        out = fn(x)
        partials = out[:, None]
        kern = np.zeros((s.cin, 1, s.k, s.k))
        bias = np.zeros(s.cin)
        grid = ca.pad(x, p, -np.inf if s.op == MAX else 0.0)
        wk = kern
    else:
        s = replace(s, filt=min(s.filt, drawn(s)))
        kern, bias = kernel_values(s), bias_values(s)
        if s.op == CONV:
            out = ca.conv2d(x, kern, bias, s.stride, p, s.dilation)
            partials = np.stack([ca.conv2d(x[c:c + 1], kern[:, c:c + 1], None, s.stride, p, s.dilation)
                                 for c in range(s.cin)], axis=1)
            grid, wk = ca.pad(x, p), kern
        else:
            weight = kern.transpose(1, 0, 2, 3)  # torch layout [C_in, C_out, K, K]
            out = ca.conv_transpose2d(x, weight, bias, s.stride, p, s.out_pad, s.dilation)
            partials = np.stack([ca.conv_transpose2d(x[c:c + 1], weight[c:c + 1], None, s.stride, p, s.out_pad,
                                                     s.dilation) for c in range(s.cin)], axis=1)
            grid, _ = ca.stretch(x, s.k, s.stride, p, s.out_pad, s.dilation)
            wk = ca.equivalent_kernel(weight)
    gh, gw = grid.shape[1:]
    kinds = np.full((gh, gw), PADDING)
    if s.op == TCONV:
        q = s.dilation * (s.k - 1) - p
        kinds[:] = PADDING
        offset, step_in = q, s.stride
        core = np.full((gh, gw), False)
        r0, r1 = max(q, 0), q + (s.h - 1) * s.stride + 1
        c1 = q + (s.w - 1) * s.stride + 1
        core[r0:r1, r0:c1] = True
        kinds[core] = INSERTED
        rows = [q + i * s.stride for i in range(s.h) if 0 <= q + i * s.stride < gh]
        cols = [q + j * s.stride for j in range(s.w) if 0 <= q + j * s.stride < gw]
        kinds[np.ix_(rows, cols)] = INPUT
        steps = ca.transposed_window_positions(s.h, s.w, s.k, s.stride, p, s.out_pad, s.dilation)
        unc_r, unc_c = [], []
    else:
        offset, step_in = p, 1
        kinds[p:p + s.h, p:p + s.w] = INPUT
        steps = ca.window_positions(s.h, s.w, s.k, s.stride, p, s.dilation)
        unc_r = ca.uncovered(s.h, s.k, s.stride, p, s.dilation)
        unc_c = ca.uncovered(s.w, s.k, s.stride, p, s.dilation)
    return Lab(s, p, x, kern, bias, out, grid, kinds, offset, step_in, wk, steps, partials, unc_r, unc_c)


# ------------------------------------------------------------------------------------ formula panel
def params(s: Settings) -> int:
    """Learnable parameters (K·K·C_in + 1)·C_out, biases included; pooling has none."""
    return 0 if s.op in (MAX, AVG) else (s.k * s.k * s.cin + 1) * s.cout


def tex_int(n: int) -> str:
    """An integer with thousands separators for LaTeX math ("{,}" keeps the comma from adding a space)."""
    return f"{n:,}".replace(",", "{,}")


def params_formula(s: Settings) -> str:
    """LaTeX: N filters of K×K×C_in, each with K·K·C_in weights and one bias (lecture 3: 10 filters of 5×5×3,
    5·5·3 + 1 = 76 each, 760 in all)."""
    n, per = tex_int(s.cout), s.k * s.k * s.cin + 1
    return (rf"\text{{parameters}} = N\cdot(K\cdot K\cdot C_{{in}} + 1) = {n}\cdot({s.k}\cdot{s.k}\cdot{s.cin} + 1)"
            rf" = {n}\cdot{tex_int(per)} = {tex_int(params(s))}"
            rf"\quad\text{{({s.cout:,} filter{'s' * (s.cout > 1)} of }}{s.k}\times{s.k}\times{s.cin}\text{{)}}")


def macs(lab: Lab) -> int:
    """Multiply-adds O_h·O_w·K·K·C_in·C_out (transposed: I_h·I_w·K·K·C_in·C_out, what PyTorch's counter counts)."""
    s = lab.s
    if lab.pooling:
        return 0
    if s.op == TCONV:
        return s.h * s.w * s.k * s.k * s.cin * s.cout
    return lab.out.shape[1] * lab.out.shape[2] * s.k * s.k * s.cin * s.cout


def torch_code(lab: Lab) -> str:
    """The equivalent torch.nn module call."""
    s, p = lab.s, lab.padding
    if s.op == MAX:
        return f"torch.nn.MaxPool2d(kernel_size={s.k}, stride={s.stride}, padding={p}, dilation={s.dilation})"
    if s.op == AVG:
        return f"torch.nn.AvgPool2d(kernel_size={s.k}, stride={s.stride}, padding={p})"
    pad = "'same'" if s.pad_mode == "same" else str(p)
    if s.op == TCONV:
        return (f"torch.nn.ConvTranspose2d(in_channels={s.cin}, out_channels={s.cout}, kernel_size={s.k}, "
                f"stride={s.stride}, padding={p}, output_padding={s.out_pad}, dilation={s.dilation})")
    return (f"torch.nn.Conv2d(in_channels={s.cin}, out_channels={s.cout}, kernel_size={s.k}, "
            f"stride={s.stride}, padding={pad}, dilation={s.dilation})")


def size_formula(n: int, s: Settings, p: int, axis: str) -> str:
    """LaTeX of the output-size formula for one axis with the numbers substituted."""
    k, st, d = s.k, s.stride, s.dilation
    if s.op == TCONV:
        o = ca.output_size(n, k, st, p, d, True, s.out_pad)
        return (rf"O_{axis} = (I-1)\,S - 2P + D\,(K-1) + OP + 1 = ({n}-1)\cdot{st} - 2\cdot{p} + {d}\cdot({k}-1)"
                rf" + {s.out_pad} + 1 = {o}")
    o = ca.output_size(n, k, st, p, d)
    return (rf"O_{axis} = \left\lfloor \frac{{I + 2P - D\,(K-1) - 1}}{{S}} \right\rfloor + 1 = "
            rf"\left\lfloor \frac{{{n} + 2\cdot{p} - {d}\cdot({k}-1) - 1}}{{{st}}} \right\rfloor + 1 = "
            rf"\lfloor {n + 2 * p - d * (k - 1) - 1}/{st} \rfloor + 1 = {o}")


def inverse_formula(o: int, s: Settings, p: int, axis: str) -> str:
    """The other direction: the transposed formula for a convolution, the direct one for a transposed one."""
    k, st, d = s.k, s.stride, s.dilation
    if s.op == TCONV:
        back = ca.output_size(o, k, st, p, d)
        return (rf"\text{{Conv2d with the same settings maps it back: }} \lfloor ({o} + 2\cdot{p} - {d}\cdot({k}-1) - 1)/{st}"
                rf"\rfloor + 1 = {back}")
    try:
        back = ca.output_size(o, k, st, p, d, True, 0)
    except ValueError:
        return r"\text{ConvTranspose2d with the same settings cannot map this output back (its size would be } \le 0)"
    return (rf"\begin{{gathered}}\text{{ConvTranspose2d with the same settings maps it back:}} \\ (I-1)\,S - 2P"
            rf" + D\,(K-1) + OP + 1 = ({o}-1)\cdot{st} - 2\cdot{p} + {d}\cdot({k}-1) + 0 + 1 = {back}"
            r"\end{gathered}")


def divisibility_note(lab: Lab) -> str | None:
    """One sentence when (I + 2P − D(K−1) − 1) is not divisible by S, else None."""
    s = lab.s
    if s.op == TCONV:
        return None
    notes = []
    for n, axis in ((s.h, "height"), (s.w, "width")):
        r = ca.leftover(n, s.k, s.stride, lab.padding, s.dilation)
        if r:
            notes.append(f"{axis}: I + 2P − D·(K−1) − 1 = {n + 2 * lab.padding - s.dilation * (s.k - 1) - 1} is not "
                         f"divisible by S = {s.stride}, so the floor drops the last {r} cell{'s' * (r > 1)}")
    if not notes:
        return None
    text = "; ".join(notes)
    return (text[0].upper() + text[1:] + ". The cells no window ever covers are outlined in orange: "
            "their values never reach the output.")


def chain(s: Settings, p: int, n: int, times: int = 5) -> list[int]:
    """Sizes when the same layer is applied again and again (e.g. 32 → 28 → 24 → …), until impossible."""
    sizes = [n]
    for _ in range(times):
        try:
            if s.op == TCONV:
                sizes.append(ca.output_size(sizes[-1], s.k, s.stride, p, s.dilation, True, s.out_pad))
            elif s.op in (MAX, AVG):
                sizes.append(ca.pool_output_size(sizes[-1], s.k, s.stride, p, s.dilation,
                                                 "max" if s.op == MAX else "avg"))
            else:
                sizes.append(ca.output_size(sizes[-1], s.k, s.stride, p, s.dilation))
        except ValueError:
            break
    return sizes
