"""python -m sim: Ctrl-C is one line and exit 130, not a traceback."""

import importlib

import sim.runner


def test_keyboard_interrupt_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(sim.runner, "run", interrupted)
    monkeypatch.delenv("FXP_TRACEBACK", raising=False)
    main = importlib.import_module("sim.__main__").main
    try:
        code = main([str(tmp_path)])
    except KeyboardInterrupt:
        raise AssertionError("KeyboardInterrupt escaped sim.__main__.main") from None
    out, err = capsys.readouterr()
    assert (code, out, err) == (130, "", "interrupted\n")
