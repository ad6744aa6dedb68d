"""The lecture's tables and calculators: live numbers, the lecture's figures, and the explained disagreements."""

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from explorer.architecture import calculators as calc
from explorer.architecture import comparison
from explorer.architecture import lecture_tables as lt


def _flops(module: nn.Module, shape) -> int:
    with FlopCounterMode(display=False) as fc:
        module(torch.zeros(1, *shape))
    return fc.get_total_flops()


def test_alexnet_table_matches_the_lecture_except_the_explained_rows():
    t = lt.alexnet_table().set_index("layer")
    assert (t["lecture C"] == t["live C"]).all() and (t["lecture H/W"] == t["live H/W"]).all()
    assert (t["lecture memory (KB)"] - t["live memory (KB)"]).abs().max() <= 0.5
    conv = t.loc[["conv1", "conv2", "conv3", "conv5"]]
    assert (conv["live MMACs"].round() == conv["lecture flop (M)"]).all()
    assert (conv["live params (k)"].round() == conv["lecture params (k)"]).all()
    assert t.loc["conv4", "live MMACs"] == pytest.approx(149.520384)  # 13*13*256*3*3*384 / 1e6
    assert t.loc["conv4", "lecture flop (M)"] == 145 and "slip" in t.loc["conv4", "note"]
    for fc in ["fc6", "fc7", "fc8"]:
        assert "excludes the bias" in t.loc[fc, "note"]
    assert t.loc["fc6", "live params (k)"] * 1000 == 37_752_832  # 37,748,736 weights + 4,096 biases
    assert [n for n in t.index if t.loc[n, "note"]] == ["conv4", "flatten", "fc6", "fc7", "fc8"]


def test_vgg16_rows_match_and_the_total_is_explained():
    t = lt.vgg16_table()
    assert (t["lecture params (no bias)"] == t["live params (no bias)"]).all()
    assert ((t["lecture memory (values)"] - t["live memory (values)"]).abs() <= 0.03 * t["live memory (values)"]).all()
    totals = lt.vgg16_totals()
    assert totals["sum of the lecture's rows"] == pytest.approx(15.2e6, rel=0.01)
    assert totals["live MB"] == pytest.approx(61, abs=0.5)
    assert totals["live params"] == 138_357_544
    assert "24 M" in lt.VGG16_TOTAL_NOTE and "15.2 M" in lt.VGG16_TOTAL_NOTE


def test_googlenet_stem_matches_the_lecture_rows():
    table, totals = lt.googlenet_stem_table()
    assert (table["lecture memory (KB)"] == table["live memory (KB)"]).all()
    assert (table["lecture C"] == table["live C"]).all() and (table["lecture H/W"] == table["live H/W"]).all()
    convs = table[table["layer"].str.startswith("conv")]
    assert (convs["live MMACs"].round() == convs["lecture flop (M)"]).all()
    assert (convs["live conv weights (k)"].round() == convs["lecture params (k)"]).all()
    assert convs["note"].str.contains("batch norm").all()  # why "live params (k)" is a little higher
    pools = table[table["layer"].str.startswith("max")]
    assert (pools["live MMACs"] == 0).all() and pools["note"].str.contains("not counted").all()
    stem = totals.iloc[0]
    assert stem["live memory (MB)"] == pytest.approx(7.5, abs=0.05)
    assert table["lecture flop (M)"].sum() == 481 and "418" in lt.GOOGLENET_TOTALS_NOTE


def test_resnet_family_gmacs_and_v1_strides():
    t = lt.resnet_table().set_index("model")
    assert (t["lecture blocks per stage"] == t["live blocks per stage"]).all()
    assert (t["lecture block"] == t["live block"]).all()
    # The lecture's GFLOP are the paper's v1 figures: within 0.07 G of the live v1-stride count.
    assert ((t["live GMACs (v1 strides)"] - t["lecture GFLOP"]).abs() < 0.07).all()
    assert (t["lecture top-5 error (%)"] - t["torchvision V1 top-5 error (%)"]).abs().max() < 0.02
    assert t.loc["ResNet-50", "note"] and not t.loc["ResNet-18", "note"] and not t.loc["ResNet-34", "note"]


def test_vgg_vs_alexnet_ratios_beside_the_lecture():
    table = comparison.compare(["alexnet", "vgg16"])
    r = comparison.ratios(table, "vgg16", "alexnet")
    assert r["activation memory"] == pytest.approx(lt.LECTURE_VGG_VS_ALEXNET["activation memory"], rel=0.05)
    assert r["params"] == pytest.approx(lt.LECTURE_VGG_VS_ALEXNET["params"], abs=0.05)
    assert r["MACs"] == pytest.approx(21.7, abs=0.1)  # not the lecture's 19.4: see VGG_VS_ALEXNET_NOTE
    with pytest.raises(ValueError, match="not in the comparison"):
        comparison.ratios(table, "resnet18", "alexnet")


def test_dense_vs_conv_lecture_numbers():
    r = calc.dense_vs_conv()
    assert r.rows[0]["by formula"] == r.rows[0]["live"] == 921_601_000
    assert r.rows[1]["by formula"] == r.rows[1]["live"] == (3 * 3 * 3 + 1) * 1000


def test_mlp_vs_cnn_against_torch():
    mlp, cnn = calc.mlp_vs_cnn()
    assert mlp.params == 784 * 256 + 256 + 256 * 10 + 10 == 203_530
    assert cnn.params == sum(p.numel() for p in calc.lecture_cnn().parameters()) == 431_754
    assert [r.output_shape for r in cnn.layers if r.type == "MaxPool2d"] == [(1, 32, 12, 12), (1, 64, 5, 5)]
    assert 2 * cnn.macs == _flops(calc.lecture_cnn(), (1, 28, 28))
    assert 2 * mlp.macs == _flops(calc.lecture_mlp(), (1, 28, 28))


@pytest.mark.parametrize("c,size", [(64, 56), (3, 7)])
def test_5x5_vs_two_3x3(c, size):
    r = calc.one_5x5_vs_two_3x3(c, size)
    for row in r.rows:
        assert row["by formula"] == row["live"] and row["MACs by formula"] == row["live MACs"]


def test_inception_branches_and_totals():
    res = calc.inception()
    assert res["naive total"] == 854_196_224  # the lecture's 854 M
    assert round(res["naive total"] / 1e6) == res["lecture naive"] / 1e6
    rows = res["bottleneck"].rows
    assert all(r["by formula"] == r["live"] for r in rows)
    assert res["bottleneck total"] == sum(r["live"] for r in rows) == 271_351_808
    three = next(r["live"] for r in rows if r["part"] == "branch3.1")
    assert round((res["bottleneck total"] + three) / 1e6) == 358  # how the lecture's total arises
    assert res["naive out channels"] == 672 and res["bottleneck out channels"] == 480
    module = calc.InceptionModule(reduce=(64, 64, 64))
    assert 2 * res["bottleneck total"] == _flops(module, (256, 28, 28))


def test_conv5_vs_inception_branch():
    r = calc.conv5_vs_inception_branch()
    assert [row["live"] for row in r.rows] == [1_638_400, 118_784]  # "1.6m" and "120k"
    assert all(row["by formula"] == row["live"] for row in r.rows)


@pytest.mark.parametrize("m,n,regular,separable", [(4, 2, 72, 44), (512, 512, 2_359_296, 266_752)])
def test_regular_vs_depthwise(m, n, regular, separable):
    r = calc.regular_vs_depthwise(m, n, 3)
    assert [row["live"] for row in r.rows] == [regular, separable]
    assert all(row["MACs by formula"] == row["live MACs"] for row in r.rows)


def test_basic_vs_bottleneck_block():
    r = calc.basic_vs_bottleneck(64, 56)
    assert all(row["by formula"] == row["live"] for row in r.rows)
    assert all(row["MACs by formula"] == row["live MACs"] for row in r.rows)
    assert r.rows[1]["live MACs"] < r.rows[0]["live MACs"]


def _meta_counts(module: nn.Module, shape) -> tuple[int, int, tuple]:
    """(parameters, MACs, output shape) of a meta-device module, counted by torch itself."""
    with FlopCounterMode(display=False) as fc:
        out = module(torch.zeros(1, *shape, device="meta"))
    return sum(p.numel() for p in module.parameters()), fc.get_total_flops() // 2, tuple(out.shape[1:])


@pytest.mark.parametrize("size,c,n,k,s,p", [(227, 3, 96, 11, 4, 0), (224, 3, 96, 11, 4, 0), (64, 1, 10, 5, 2, 1),
                                            (100, 4, 33, 3, 3, 2)])
def test_alexnet_conv1_and_its_dense_layer_against_meta_modules(size, c, n, k, s, p):
    conv_row, dense_row = calc.alexnet_conv1(size, c, n, k, s, p).rows
    with torch.device("meta"):
        conv = nn.Conv2d(c, n, k, s, p)
        params, macs, out = _meta_counts(conv, (c, size, size))
        dense = nn.Linear(c * size * size, out[0] * out[1] * out[2])
    assert conv_row["by formula"] == conv_row["live"] == params
    assert conv_row["MACs by formula"] == conv_row["live MACs"] == macs
    assert conv_row["output"] == f"{out[1]} × {out[2]} × {out[0]}" == dense_row["output"]
    d_params, d_macs, _ = _meta_counts(nn.Sequential(nn.Flatten(), dense), (c, size, size))
    assert dense_row["by formula"] == dense_row["live"] == d_params
    assert dense_row["MACs by formula"] == dense_row["live MACs"] == d_macs


def test_alexnet_lecture_figures_224_against_227():
    assert calc.alexnet_conv1().rows[0]["live"] == 34_944
    rows = calc.alexnet_lecture_dense().rows
    assert [r["conv output"] for r in rows[:2]] == ["55 × 55 × 96", "54 × 54 × 96"]
    assert rows[0]["dense parameters"] == 227 * 227 * 3 * 290_400 + 290_400 == 44_892_355_200
    assert rows[1]["dense parameters"] == 224 * 224 * 3 * 279_936 + 279_936
    assert round(rows[2]["dense parameters"] / 1e9, 1) == 43.7  # the lecture's "43.7 x 1e9"
    note = calc.alexnet_dense_note()
    assert "43,713,331,200" in note and "44,892,355,200" in note and "= 54" in note


@pytest.mark.parametrize("h,w,c,units", [(200, 200, 1, 40_000), (32, 48, 3, 100), (7, 9, 2, 5)])
def test_dense_on_image_against_a_meta_linear(h, w, c, units):
    rows = calc.dense_on_image(h, w, c, units).rows
    with torch.device("meta"):
        params, _, _ = _meta_counts(nn.Sequential(nn.Flatten(), nn.Linear(h * w * c, units)), (c, h, w))
    assert rows[2]["by formula"] == rows[2]["live"] == params
    assert rows[0]["live"] + rows[1]["live"] == params and rows[1]["live"] == units


def test_the_lecture_200x200_layer_is_1_6_billion():
    assert calc.dense_on_image().rows[2]["live"] == 1_600_040_000  # the lecture says "~2B"


@pytest.mark.parametrize("fn,args,match", [
    (calc.dense_vs_conv, (5000,), "height must be a whole number from 1 to 4,096 \\(it is 5,000\\)"),
    (calc.alexnet_conv1, (227, 3, 96, 0), "kernel size must be"),
    (calc.alexnet_conv1, (8, 3, 96, 11), "kernel spans 11 cells"),
    (calc.dense_on_image, (200, 200, 1, 0), "number of hidden units"),
    (calc.regular_vs_depthwise, (4, 2, 3, 0), "feature map size"),
    (calc.basic_vs_bottleneck, (-1,), "width C"),
])
def test_out_of_range_inputs_are_refused_with_the_input_named(fn, args, match):
    with pytest.raises(ValueError, match=match):
        fn(*args)


@pytest.mark.parametrize("size", [7, 14, 28])
def test_depthwise_macs_follow_the_stated_feature_map_size(size):
    r = calc.regular_vs_depthwise(8, 16, 3, size)
    with torch.device("meta"):
        _, macs, _ = _meta_counts(nn.Conv2d(8, 16, 3, padding=1, bias=False), (8, size, size))
    assert r.rows[0]["live MACs"] == r.rows[0]["MACs by formula"] == macs
