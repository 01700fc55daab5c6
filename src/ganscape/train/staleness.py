"""Stale gradients (`train.staleness` = k; issue 20, part 8): asynchronous SGD simulated in one process.

Odena's "Open Questions about GANs" (batch size section) asks how the stale
gradients of asynchronous training interact with GANs. With asynchronous
workers reading a parameter server, a gradient is computed on parameters that
are some updates old and applied to the parameters the server holds now. Here
every optimizer of the method (a GAN: G's and D's) is one such server with a
delay of exactly k of ITS OWN steps: its step t applies the gradient computed
at its parameters after step max(t - k, 0) to its current parameters,

    x_{t+1} = x_t - lr * grad(x_{max(t-k, 0)})      (plain SGD; any optimizer's update rule otherwise)

and while one net's gradient is computed every other net also holds its stale
view (a worker reads the whole parameter set), each k of its own steps old.
Before a net's k-th step the delay is shorter (its oldest parameters are its
initial ones). k = 0 installs nothing: training is bit-identical to a run
without the option.

How (why this shape): outside `method.step` the nets hold their CURRENT
parameters, so EMA, sample grids, checkpoints, evaluation and the divergence
checks see the server's values and need no change. Around `method.step`
(`around_step`) every optimizer's parameters are loaded with its stale view;
an optimizer step pre-hook copies the current values back just before the
update, so the step applies the stale gradient (already in .grad) to the
current parameters (and the optimizer's moments see the stale gradients, as a
server's would); a post-hook keeps the pre-step values in that optimizer's
queue of the last k parameter sets and loads the next stale view; at the end
of `method.step` the current values are restored. The hooks touch parameter
values only, never gradients, so they are independent of the hooks that
average gradients over ranks (train/distributed.py) and of fp16's loss scaler
(train/speed.py), which check and drop gradients; they are registered after
both, so every gradient hook has run when the current values come back. A
step the fp16 scaler skips still counts as a step (its update is zero).

The unit is the optimizer, not the net: a parameter set is k steps of the
optimizer that updates it old (two optimizers sharing a parameter are
refused). Buffers (batch-norm running statistics, spectral-norm vectors) are
not delayed: they stay current, as a server would hold one copy of them.

Deviations and limits (all stated where they apply):
- A change a method makes to parameters between optimizer steps (WGAN's weight
  clipping) would land on the stale view and be lost; such configs are refused
  up front (method.params.weight_clip), and any other such change is detected
  (the stale view no longer equals its snapshot) and stops the run with one
  line instead of training something else silently.
- Method state that reads parameters inside the step reads the stale view (the
  worker's copy): historical averaging's running mean and SeqGAN's delayed
  rollout copy follow the stale parameters.
- The recipes that act (gail, airl, vime, expert, bc) are refused as a family:
  TRPO updates the policy by its own line search, not by an optimizer step
  (bc and PPO would fit; they are refused with the rest for now).
- Resume is exact: the queues are saved in the checkpoint (key "staleness").
  A warm start (train.init_from) starts with empty queues, as step 0 does.
- The `probe` commands that run one step of a run's method run it without delay.
Memory: k extra copies of every trained parameter (plus one while a step runs).
"""
from __future__ import annotations

import contextlib
from collections import deque
from typing import Any, Deque, Dict, List, Optional

import torch

from ..registry import ConfigError

KEY = "staleness"   # the checkpoint entry and state.extra's key


def _differs(a: List[torch.Tensor], b: List[torch.Tensor]) -> torch.Tensor:
    """A 0-d bool tensor: any element of a differs from b (NaN equal to NaN); no host sync."""
    flags = [((x != y) & ((x == x) | (y == y))).any() for x, y in zip(a, b)]
    return torch.stack(flags).any() if flags else torch.zeros((), dtype=torch.bool)


class _Queue:
    """One optimizer's parameters and the values they had before each of its last k steps."""

    def __init__(self, name: str, params: List[torch.Tensor], k: int):
        self.name, self.params, self.k = name, params, k
        self.past: Deque[List[torch.Tensor]] = deque()   # oldest first: x_{max(t-k,0)} ... x_{t-1}
        self.saved: Optional[List[torch.Tensor]] = None  # the current values while the stale view is loaded

    @torch.no_grad()
    def load_stale(self) -> None:
        if not self.past or self.saved is not None:   # step 0: the stale view is the current one
            return
        self.saved = [p.detach().clone() for p in self.params]
        torch._foreach_copy_([p.detach() for p in self.params], self.past[0])

    @torch.no_grad()
    def restore(self) -> Optional[torch.Tensor]:
        """Current values back in; returns whether the stale view was changed meanwhile (a 0-d tensor)."""
        if self.saved is None:
            return None
        changed = _differs([p.detach() for p in self.params], self.past[0])
        torch._foreach_copy_([p.detach() for p in self.params], self.saved)
        return changed

    @torch.no_grad()
    def before_step(self) -> Optional[torch.Tensor]:
        changed = self.restore()
        # x_t, the values this step starts from, joins the queue after the step
        self._pending = self.saved if self.saved is not None else [p.detach().clone() for p in self.params]
        self.saved = None
        return changed

    def after_step(self) -> None:
        self.past.append(self._pending)
        self._pending = None
        while len(self.past) > self.k:
            self.past.popleft()


class Staleness:
    """The hooks and queues of `train.staleness` = k > 0 for a TrainState's optimizers (module docstring)."""

    def __init__(self, k: int, optims: Dict[str, torch.optim.Optimizer]):
        self.k = k
        owner: Dict[int, str] = {}
        self.queues: Dict[str, _Queue] = {}
        for name, opt in optims.items():
            params = [p for g in opt.param_groups for p in g["params"]]
            for p in params:
                if id(p) in owner:
                    raise ConfigError(f"train.staleness: optimizers {owner[id(p)]} and {name} update the same "
                                      "parameter; a delay counted in one optimizer's steps is not defined; use "
                                      "train.staleness=0")
                owner[id(p)] = name
            self.queues[name] = q = _Queue(name, params, k)
            # after the gradient hooks already registered (distributed averaging, fp16's scaler)
            opt.register_step_pre_hook(self._pre(q))
            opt.register_step_post_hook(self._post(q))
        self.active = False
        self._changed: List[torch.Tensor] = []

    def _pre(self, q: _Queue):
        def hook(opt, args, kwargs):
            if self.active:
                changed = q.before_step()
                if changed is not None:
                    self._changed.append(changed)
        return hook

    def _post(self, q: _Queue):
        def hook(opt, args, kwargs):
            if self.active:
                q.after_step()
                q.load_stale()
        return hook

    @contextlib.contextmanager
    def around_step(self):
        """The method's step with stale views loaded; current values in the nets again afterwards."""
        for q in self.queues.values():
            q.load_stale()
        self.active = True
        ok = False
        try:
            yield
            ok = True
        finally:
            self.active = False
            for q in self.queues.values():
                changed = q.restore()
                q.saved = None
                if changed is not None:
                    self._changed.append(changed)
            changed, self._changed = self._changed, []
            if ok and changed and bool(torch.stack([c.to(changed[0].device) for c in changed]).any()):
                raise ConfigError("train.staleness: the method changed parameters between optimizer steps "
                                  "(outside an update); with stale views that change would be lost; use "
                                  "train.staleness=0")
        self._sync_first_step()

    def _sync_first_step(self) -> None:
        """Under torchrun, rank 0's queues everywhere (after a data-dependent init each rank's x_0
        differed until the loop synced the nets after the first step)."""
        from .. import ranks
        if ranks.world() == 1 or getattr(self, "_synced", False):
            return
        import torch.distributed as dist
        for q in self.queues.values():
            for snap in q.past:
                for t in snap:
                    dist.broadcast(t, 0)
        self._synced = True

    def state_dict(self) -> Dict[str, Any]:
        return {"k": self.k, "past": {n: [list(s) for s in q.past] for n, q in self.queues.items()}}

    @torch.no_grad()
    def load_state_dict(self, sd: Dict[str, Any]) -> None:
        if int(sd.get("k", -1)) != self.k:
            raise ConfigError(f"train.staleness: the checkpoint's queues are for k = {sd.get('k')}, this run "
                              f"has k = {self.k}")
        for name, q in self.queues.items():
            snaps = sd["past"].get(name, [])
            q.past = deque([[t.to(device=p.device, dtype=p.dtype).clone() for t, p in zip(s, q.params)]
                            for s in snaps][-self.k:])


def check(cfg, method) -> None:
    """One line where a delay cannot apply to this method."""
    k = cfg.train.staleness
    if not k:
        return
    name = cfg.method.name
    if getattr(method, "data_kind", "") == "policy":
        raise ConfigError(f"train.staleness: method {name!r} is a recipe that acts; delays are built for recipes "
                          "whose every update is an optimizer step (TRPO's policy step is a line search); use "
                          "train.staleness=0")
    clip = getattr(getattr(method, "p", None), "weight_clip", 0)
    if clip:
        raise ConfigError(f"train.staleness: method.params.weight_clip {clip} clips D between its updates, which "
                          "a stale view would lose; use a gradient penalty instead, or train.staleness=0")


def attach(cfg, state, method) -> None:
    """train.staleness > 0: hooks on every optimizer of `state` (call after the distributed and fp16
    hooks are registered); k = 0 installs nothing."""
    check(cfg, method)
    if cfg.train.staleness:
        state.extra[KEY] = Staleness(cfg.train.staleness, state.optims)


def around_step(state):
    """The context the loop runs method.step in: stale views where train.staleness > 0, else nothing."""
    s = state.extra.get(KEY)
    return s.around_step() if s is not None else contextlib.nullcontext()


def checkpoint_entry(state) -> Dict[str, Any]:
    """{"staleness": queues} for a checkpoint payload; {} without staleness (checkpoints unchanged)."""
    s = state.extra.get(KEY)
    return {KEY: s.state_dict()} if s is not None else {}


def load_checkpoint_entry(state, ckpt: Dict[str, Any]) -> None:
    """The queues of a resumed run (a checkpoint without them, e.g. written at step 0: empty queues)."""
    s = state.extra.get(KEY)
    if s is not None and KEY in ckpt:
        s.load_state_dict(ckpt[KEY])
