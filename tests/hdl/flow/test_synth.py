"""hdl.flow.synth and hdl.flow.pnr without the tools: the yosys scripts and the LPF rendered from
templates/flow are the text the f-string code before the templates wrote, for every option."""

import itertools

import pytest

from hdl.flow import pnr, synth
from hdl.flow.tools import render_script

# The scripts as hdl/synth.py held them before they became templates (commit 004b572).
_OLD_SCRIPTS = {
    "ecp5": """read_verilog {src}
synth_ecp5 -top {top}{flat} -run :map_ram
maccmap -unmap
synth_ecp5 -top {top}{flat} -run map_ram:map_luts
techmap -map +/lattice/latches_map.v
abc -lut 4 -dress
clean
synth_ecp5 -top {top}{flat} -run map_cells:
""",
    "xilinx": """read_verilog {src}
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run :map_memory
maccmap -unmap
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run map_memory:map_luts
opt_expr -mux_undef -noclkinv
abc -luts 2:2,3,6:5,10,20
clean
xilinx_srl -fixed -minlen 3
techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6
xilinx_dffopt
opt_lut_ins -tech xilinx
synth_xilinx -top {top}{flat} -noiopad -noclkbuf -run finalize:
""",
    "ice40": """read_verilog {src}
synth_ice40 -top {top}{flat} -dsp -run :map_ram
maccmap -unmap
synth_ice40 -top {top}{flat} -dsp -run map_ram:map_luts
techmap -map +/ice40/latches_map.v
abc -dress -lut 4
ice40_wrapcarry -unwrap
techmap -map +/ice40/ff_map.v
clean
opt_lut -tech ice40
synth_ice40 -top {top}{flat} -dsp -run map_cells:
""",
}


def _old_script(target, sources, top, flatten, nodsp, netlist):
    """What hdl/synth.py's synthesize() wrote to synth.ys before the templates."""
    flat = {"ecp5": " -noflatten", "ice40": " -noflatten", "xilinx": ""}[target]
    if flatten:
        flat = " -flatten" if target == "xilinx" else ""
    if nodsp:
        flat += " -nodsp"
    script = _OLD_SCRIPTS[target].format(src=" ".join(sources), top=top, flat=flat)
    if nodsp and target == "ice40":
        script = script.replace(" -dsp", "")
    script += "tee -q -o stat.json stat -json\n"
    if netlist:
        script += "flatten\nclean\nwrite_json netlist.json\n"
    return script


@pytest.mark.parametrize("target, flatten, nodsp, netlist",
                         list(itertools.product(synth.TARGETS, *[(False, True)] * 3)))
def test_scripts_are_the_ones_before_the_templates(target, flatten, nodsp, netlist):
    for sources in (["src0.v"], ["src0.v", "src1.v"]):
        got = synth.synth_script(target, sources, "digits_mlp", flatten=flatten, nodsp=nodsp,
                                 netlist=netlist)
        assert got == _old_script(target, sources, "digits_mlp", flatten, nodsp, netlist)


def test_unknown_target_is_an_error():
    with pytest.raises(ValueError, match=r"^synthesis target must be one of ecp5, xilinx, "
                                         r"ice40, not 'vhdl'$"):
        synth.synth_script("vhdl", ["a.v"], "m")


def test_clock_constraint():
    assert pnr.clock_constraints("clk") == 'LOCATE COMP "clk" SITE "G2";\n'


def test_templates_are_strict():
    with pytest.raises(Exception, match="'top' is undefined"):
        render_script("ecp5.ys.j2", sources=["a.v"], flatten=False, nodsp=False, netlist=False)
