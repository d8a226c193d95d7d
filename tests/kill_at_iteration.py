"""Run ``tools/lazyconfig_train_net.py`` with its arguments, killing the process with SIGKILL (a real
``kill -9``: no cleanup, no exception handler runs) when training is about to run iteration
``$KILL_AT_ITER``. Used by the resume tests."""

import os
import runpy
import signal
import sys

from rmlr.engine import trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN_NET = os.path.join(REPO, "tools", "lazyconfig_train_net.py")
KILL_AT = int(os.environ["KILL_AT_ITER"])
_run_step = trainer.HOITrainer.run_step


def run_step(self):
    if self.iter == KILL_AT:
        os.kill(os.getpid(), signal.SIGKILL)
    return _run_step(self)


trainer.HOITrainer.run_step = run_step
sys.argv = [TRAIN_NET] + sys.argv[1:]
runpy.run_path(TRAIN_NET, run_name="__main__")
