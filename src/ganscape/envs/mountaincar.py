"""VIME's sparse MountainCar: rllab's Box2D mountain car (a rigid box
riding a 201-point chain by contact), simulated here without Box2D. The
task, its constants, the simulator and every deviation from VIME and Box2D
are described in sparse.py's docstring, which registers it as
ganscape/SparseMountainCar-v0."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .deps import require_gymnasium
from .swingup import draw_segment

gym = require_gymnasium()  # this module is imported only where an environment is wanted

# ---- MountainCar ------------------------------------------------------------------------------

# rllab/envs/box2d/models/mountain_car.xml.mako, mountain_car_env.py, box2d_env.py and
# parser/xml_box2d.py; openai/vime envs/mountain_car_env_x.py
MC_DT = 0.05                     # <world timestep="0.05">, frame_skip 1
MC_GRAVITY = 10.0                # no gravity in the xml: Box2D's default (0, -10)
MC_HX, MC_HY = 0.2, 0.1          # box="0.2, 0.1": half-extents
MC_MASS = 4 * MC_HX * MC_HY * 5.0                                   # density 5: 0.4 kg
MC_INERTIA = MC_MASS * ((2 * MC_HX) ** 2 + (2 * MC_HY) ** 2) / 12.0  # about the centre
MC_FRICTION = math.sqrt(0.0005 * 0.2)   # Box2D mixes sqrt(f1 f2): the cart's 0.0005, the chain's default 0.2
MC_FORCE_LIMIT = 1.0             # ctrllimit="-1,1" (N)
MC_GOAL = 0.6
MC_MAX_POS = 2.0
MC_START = (0.0, 0.05)           # the cart body's position in the xml
MC_START_VEL = 1.0               # reset: x_dot ~ U(-1, 1)
MC_TRACK_POINTS = 201            # sine_chain: m = 100, vertices i = -m..m

# Box2D 2.3 (b2Settings.h, b2World/b2Island/b2ContactSolver/b2CollideEdge/b2TimeOfImpact)
B2_SLOP = 0.005                  # b2_linearSlop
B2_SKIN = 2 * B2_SLOP            # b2_polygonRadius, around the box and around each chain edge
B2_RADIUS = 2 * B2_SKIN          # the pair's total skin
B2_ANGULAR_SLOP = 2.0 / 180.0 * math.pi
B2_VELOCITY_ITERATIONS, B2_POSITION_ITERATIONS, B2_TOI_POSITION_ITERATIONS = 8, 3, 20
B2_BAUMGARTE, B2_TOI_BAUMGARTE, B2_MAX_CORRECTION = 0.2, 0.75, 0.2
B2_MAX_TRANSLATION, B2_MAX_ROTATION = 2.0, 0.5 * math.pi
B2_TOI_TARGET = max(B2_SLOP, B2_RADIUS - 3 * B2_SLOP)
B2_TOI_TOLERANCE = 0.25 * B2_SLOP
B2_MAX_SUB_STEPS = 8

_INV_M, _INV_I = 1.0 / MC_MASS, 1.0 / MC_INERTIA
_BOX = ((-MC_HX, -MC_HY), (MC_HX, -MC_HY), (MC_HX, MC_HY), (-MC_HX, MC_HY))   # counter-clockwise
_BOX_N = ((0.0, -1.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0))                    # face i: vertex i to i+1
_BOX_R = math.hypot(MC_HX, MC_HY)


def track_height(x: float) -> float:
    """rllab's sine_chain track, y = 1 - cos(pi x / 2) (the chain's vertices lie on it)."""
    return 1.0 - math.cos(0.5 * math.pi * x)


def _track():
    """The chain's vertices (as xml_box2d.py places them), each edge's normal on the car's side
    (up) and the range of normals Box2D lets a box face push along on that edge."""
    m = (MC_TRACK_POINTS - 1) // 2
    xs = [0.5 / m * i * 4.0 for i in range(-m, m + 1)]
    ys = [1.0 + math.sin((i / m - 0.5) * math.pi) for i in range(-m, m + 1)]
    up = []
    for k in range(len(xs) - 1):
        ex, ey = xs[k + 1] - xs[k], ys[k + 1] - ys[k]
        n = math.hypot(ex, ey)
        up.append((-ey / n, ex / n))
    lo, hi = [], []
    last = len(up) - 1
    for k, n in enumerate(up):
        # a chain vertex that is a hump seen from above (the chain turns clockwise there) lets
        # the normal swing over to the neighbouring edge's; a hollow one does not (ghost vertices)
        hump0 = k > 0 and up[k - 1][0] * n[1] - up[k - 1][1] * n[0] < 0
        hump1 = k < last and n[0] * up[k + 1][1] - n[1] * up[k + 1][0] <= 0
        hi.append((-n[0], -n[1]) if k == 0 else up[k - 1] if hump0 else n)      # counter-clockwise side
        lo.append((-n[0], -n[1]) if k == last else up[k + 1] if hump1 else n)   # clockwise side
    return tuple(xs), tuple(ys), tuple(up), tuple(lo), tuple(hi)


TRACK_X, TRACK_Y, _UP, _LIM_LO, _LIM_HI = _track()
_N_EDGES = len(TRACK_X) - 1
_EDGE_W = TRACK_X[1] - TRACK_X[0]


def _clip(p, q, nx, ny, off):
    """The part of segment p-q (each (point, feature id)) where n.x <= off, or None if under 2 points."""
    dp = nx * p[0][0] + ny * p[0][1] - off
    dq = nx * q[0][0] + ny * q[0][1] - off
    out = []
    if dp <= 0:
        out.append(p)
    if dq <= 0:
        out.append(q)
    if dp * dq < 0:
        s = dp / (dp - dq)
        cut = (p[0][0] + s * (q[0][0] - p[0][0]), p[0][1] + s * (q[0][1] - p[0][1]))
        out.append((cut, (p if dp > 0 else q)[1] + ("cut",)))
    return out if len(out) == 2 else None


class BoxOnChain:
    """rllab's mountain car as Box2D 2.3 steps it: a dynamic box (half-extents 0.2 x 0.1, 0.4 kg)
    on a static chain of 200 edges through (x, 1 - cos(pi x / 2)), x in [-2, 2], both with
    Box2D's skin of 0.01 m; restitution 0, friction sqrt(0.0005 * 0.2). Rewritten here from
    Box2D's documented algorithm, not a binding. One step of `MC_DT`:

    1. contacts: for each edge near the box, the separating axis (the edge's normal, or a box
       face's normal where that separates more and the chain's ghost vertices allow it) and up
       to two points clipped to the reference face, kept within the pair's skin of 0.02;
    2. velocity: gravity and the force, then 8 sequential-impulse sweeps over the contacts
       (Coulomb friction, a 2x2 block solve for two-point contacts), warm-started with the
       last step's impulses of the same features;
    3. position: v dt, then up to 3 Baumgarte sweeps (0.2, slop 0.005, at most 0.2 m);
    4. continuous collision: where the swept box comes within 0.005 of an edge (cores, skins
       removed), the step is cut there: the box is pushed out (up to 20 sweeps at 0.75), its
       velocity solved again against the contacts there (8 sweeps, no warm start), and it moves
       on for the rest of the step; repeated until the sweep is clear.

    `body` is Box2D's body state (x, y, angle, x_dot, y_dot, angular velocity)."""

    def __init__(self):
        self.body = np.zeros(6)
        self._impulses: dict = {}

    def reset(self, x_dot: float) -> None:
        """rllab's reset: the xml's state (at rest at (0, 0.05), angle 0), then x_dot."""
        self.body = np.array([MC_START[0], MC_START[1], 0.0, float(x_dot), 0.0, 0.0])
        self._impulses = {}

    # -- geometry --------------------------------------------------------------------------------

    @staticmethod
    def _box(c, a):
        co, si = math.cos(a), math.sin(a)
        vs = [(c[0] + co * x - si * y, c[1] + si * x + co * y) for x, y in _BOX]
        ns = [(co * x - si * y, si * x + co * y) for x, y in _BOX_N]
        return vs, ns

    @staticmethod
    def _edges_near(x_lo, x_hi):
        lo = max(int(math.floor((x_lo - TRACK_X[0]) / _EDGE_W)), 0)
        hi = min(int(math.floor((x_hi - TRACK_X[0]) / _EDGE_W)), _N_EDGES - 1)
        return range(lo, hi + 1)

    def _contact(self, k, c, a, vs, ns):
        """Box2D's edge-polygon manifold of edge k with the box at (c, a), or None:
        ("edge", k, normal, plane point, [(box-local point, id)]) with the edge as the reference
        face, or ("box", k, box-local normal, box-local plane point, [(world point, id)])."""
        mx, my = _UP[k]
        p1x, p1y, p2x, p2y = TRACK_X[k], TRACK_Y[k], TRACK_X[k + 1], TRACK_Y[k + 1]
        s_edge = min(mx * (v[0] - p1x) + my * (v[1] - p1y) for v in vs)
        if s_edge > B2_RADIUS:
            return None
        best, best_i = -math.inf, -1
        for i in range(4):
            nx, ny = ns[i]
            vx, vy = vs[i]
            s = min(nx * (p1x - vx) + ny * (p1y - vy), nx * (p2x - vx) + ny * (p2y - vy))
            if s > B2_RADIUS:
                return None
            ax, ay = -nx, -ny    # the push on the box, if this face is the axis
            lim = _LIM_HI[k] if ax * -my + ay * mx >= 0 else _LIM_LO[k]
            if (ax - lim[0]) * mx + (ay - lim[1]) * my < -B2_ANGULAR_SLOP:
                continue
            if s > best:
                best, best_i = s, i
        if best_i >= 0 and best > 0.98 * s_edge + 0.001:
            i = best_i
            nx, ny = ns[i]
            r1, r2 = vs[i], vs[(i + 1) % 4]
            seg = _clip(((p1x, p1y), ("box", i, 0)), ((p2x, p2y), ("box", i, 1)), ny, -nx, ny * r1[0] - nx * r1[1])
            if seg is None:
                return None
            seg = _clip(seg[0], seg[1], -ny, nx, -(ny * r2[0] - nx * r2[1]))
            if seg is None:
                return None
            pts = [(p, pid) for p, pid in seg if nx * (p[0] - r1[0]) + ny * (p[1] - r1[1]) <= B2_RADIUS]
            return ("box", k, _BOX_N[i], _BOX[i], pts) if pts else None
        i1 = min(range(4), key=lambda i: mx * ns[i][0] + my * ns[i][1])
        i2 = (i1 + 1) % 4
        # seen from above the reference face runs from the edge's right end to its left end
        seg = _clip((vs[i1], ("edge", i1)), (vs[i2], ("edge", i2)), my, -mx, my * p2x - mx * p2y)
        if seg is None:
            return None
        seg = _clip(seg[0], seg[1], -my, mx, -(my * p1x - mx * p1y))
        if seg is None:
            return None
        co, si = math.cos(a), math.sin(a)
        pts = []
        for p, pid in seg:
            if mx * (p[0] - p2x) + my * (p[1] - p2y) <= B2_RADIUS:
                dx, dy = p[0] - c[0], p[1] - c[1]
                pts.append(((co * dx + si * dy, -si * dx + co * dy), pid))
        return ("edge", k, (mx, my), (p2x, p2y), pts) if pts else None

    def _contacts(self, c, a):
        vs, ns = self._box(c, a)
        xs = [v[0] for v in vs]
        out = []
        # Box2D's island lists the newest contact first: here, the edges from right to left
        for k in reversed(self._edges_near(min(xs) - B2_RADIUS, max(xs) + B2_RADIUS)):
            m = self._contact(k, c, a, vs, ns)
            if m is not None:
                out.append(m)
        return out

    @staticmethod
    def _point(m, j, c, a):
        """Point j of contact m at pose (c, a): (normal from the track to the box, point, separation)."""
        co, si = math.cos(a), math.sin(a)
        kind, _, n, plane, pts = m
        if kind == "edge":
            lx, ly = pts[j][0]
            px, py = c[0] + co * lx - si * ly, c[1] + si * lx + co * ly
            return n, (px, py), n[0] * (px - plane[0]) + n[1] * (py - plane[1]) - B2_RADIUS
        nbx, nby = co * n[0] - si * n[1], si * n[0] + co * n[1]
        qx, qy = c[0] + co * plane[0] - si * plane[1], c[1] + si * plane[0] + co * plane[1]
        p = pts[j][0]
        return (-nbx, -nby), p, nbx * (p[0] - qx) + nby * (p[1] - qy) - B2_RADIUS

    def _points(self, m, c, a):
        """(normal, [(point, separation)]) of every point of contact m at pose (c, a)."""
        pts = [self._point(m, j, c, a) for j in range(len(m[4]))]
        return pts[0][0], [(p, sep) for _, p, sep in pts]

    # -- solver ----------------------------------------------------------------------------------

    def _push(self, rx, ry, px, py):
        self._v[0] += _INV_M * px
        self._v[1] += _INV_M * py
        self._w += _INV_I * (rx * py - ry * px)

    def _velocity_rows(self, contacts, c, a, warm):
        rows = []
        for m in contacts:
            n, pts = self._points(m, c, a)
            pts_rows = []
            for ((px, py), sep), (_, pid) in zip(pts, m[4]):
                # the point midway between the two skins' surfaces (the clip point is on the box's
                # core for an edge contact, on the chain's for a box-face contact)
                h = 0.5 * (sep + B2_RADIUS) * (-1.0 if m[0] == "edge" else 1.0)
                qx, qy = px + h * n[0], py + h * n[1]
                rx, ry = qx - c[0], qy - c[1]
                rn = rx * n[1] - ry * n[0]
                rt = -rx * n[0] - ry * n[1]
                key = (m[1],) + pid
                ln, lt = self._impulses.get(key, (0.0, 0.0)) if warm else (0.0, 0.0)
                pts_rows.append([rx, ry, 1.0 / (_INV_M + _INV_I * rn * rn), 1.0 / (_INV_M + _INV_I * rt * rt),
                                 ln, lt, key, rn])
            block = None
            if len(pts_rows) == 2:
                rn1, rn2 = pts_rows[0][7], pts_rows[1][7]
                k11, k22 = _INV_M + _INV_I * rn1 * rn1, _INV_M + _INV_I * rn2 * rn2
                k12 = _INV_M + _INV_I * rn1 * rn2
                det = k11 * k22 - k12 * k12
                if k11 * k11 < 1000.0 * det:
                    block = (k11, k12, k22, det)
                else:            # nearly redundant: Box2D keeps the first point only
                    pts_rows = pts_rows[:1]
            rows.append((n, pts_rows, block))
        return rows

    def _normal_speed(self, p, n):
        return (self._v[0] - self._w * p[1]) * n[0] + (self._v[1] + self._w * p[0]) * n[1]

    def _solve_velocity(self, rows):
        mu = MC_FRICTION
        for n, pts, block in rows:
            tx, ty = n[1], -n[0]
            for p in pts:
                vt = (self._v[0] - self._w * p[1]) * tx + (self._v[1] + self._w * p[0]) * ty
                new = min(max(p[5] - p[3] * vt, -mu * p[4]), mu * p[4])
                d, p[5] = new - p[5], new
                self._push(p[0], p[1], d * tx, d * ty)
            if block is None:
                for p in pts:
                    new = max(p[4] - p[2] * self._normal_speed(p, n), 0.0)
                    d, p[4] = new - p[4], new
                    self._push(p[0], p[1], d * n[0], d * n[1])
                continue
            # two points: the accumulated impulses x >= 0 with normal speeds K x + b >= 0, complementary
            k11, k12, k22, det = block
            p1, p2 = pts
            a1, a2 = p1[4], p2[4]
            b1 = self._normal_speed(p1, n) - (k11 * a1 + k12 * a2)
            b2 = self._normal_speed(p2, n) - (k12 * a1 + k22 * a2)
            x1, x2 = (k12 * b2 - k22 * b1) / det, (k12 * b1 - k11 * b2) / det
            if not (x1 >= 0 and x2 >= 0):
                x1, x2 = -b1 / k11, 0.0
                if not (x1 >= 0 and k12 * x1 + b2 >= 0):
                    x1, x2 = 0.0, -b2 / k22
                    if not (x2 >= 0 and k12 * x2 + b1 >= 0):
                        if not (b1 >= 0 and b2 >= 0):
                            continue
                        x1, x2 = 0.0, 0.0
            self._push(p1[0], p1[1], (x1 - a1) * n[0], (x1 - a1) * n[1])
            self._push(p2[0], p2[1], (x2 - a2) * n[0], (x2 - a2) * n[1])
            p1[4], p2[4] = x1, x2

    def _solve_position(self, contacts, beta, iterations, enough):
        for _ in range(iterations):
            worst = 0.0
            for m in contacts:
                for j in range(len(m[4])):
                    n, (px, py), sep = self._point(m, j, self._c, self._a)
                    worst = min(worst, sep)
                    C = min(max(beta * (sep + B2_SLOP), -B2_MAX_CORRECTION), 0.0)
                    rx, ry = px - self._c[0], py - self._c[1]
                    rn = rx * n[1] - ry * n[0]
                    imp = -C / (_INV_M + _INV_I * rn * rn)
                    self._c[0] += _INV_M * imp * n[0]
                    self._c[1] += _INV_M * imp * n[1]
                    self._a += _INV_I * imp * rn
            if worst >= enough:
                return

    def _integrate(self, h):
        tx, ty = h * self._v[0], h * self._v[1]
        if tx * tx + ty * ty > B2_MAX_TRANSLATION ** 2:
            s = B2_MAX_TRANSLATION / math.hypot(tx, ty)
            self._v = [self._v[0] * s, self._v[1] * s]
        if abs(h * self._w) > B2_MAX_ROTATION:
            self._w *= B2_MAX_ROTATION / abs(h * self._w)
        self._c = [self._c[0] + h * self._v[0], self._c[1] + h * self._v[1]]
        self._a += h * self._w

    # -- continuous collision ----------------------------------------------------------------------

    @staticmethod
    def _pose(c0, a0, c1, a1, t):
        return (c0[0] + t * (c1[0] - c0[0]), c0[1] + t * (c1[1] - c0[1])), a0 + t * (a1 - a0)

    @staticmethod
    def _closest(c, a, k):
        """Distance between the box and edge k without their skins, and the features that realize
        it: ("points", chain vertex, box vertex), ("edge", box vertex) or ("face", chain vertex,
        box face); (0.0, None) where they cross."""
        co, si = math.cos(a), math.sin(a)
        ends = []
        for j in (k, k + 1):                                  # the edge in the box's frame
            dx, dy = TRACK_X[j] - c[0], TRACK_Y[j] - c[1]
            ends.append((co * dx + si * dy, -si * dx + co * dy))
        (x0, y0), (x1, y1) = ends
        ex, ey = x1 - x0, y1 - y0
        t0, t1 = 0.0, 1.0                                     # does the edge cross the box?
        for p, q in ((-ex, x0 + MC_HX), (ex, MC_HX - x0), (-ey, y0 + MC_HY), (ey, MC_HY - y0)):
            if p == 0.0:
                if q < 0.0:
                    t0, t1 = 1.0, 0.0
                    break
            elif p < 0.0:
                t0 = max(t0, q / p)
            else:
                t1 = min(t1, q / p)
        if t0 <= t1:
            return 0.0, None
        best, feat = math.inf, None
        ee = ex * ex + ey * ey
        for i, (bx, by) in enumerate(_BOX):                   # box vertices against the edge
            u = ((bx - x0) * ex + (by - y0) * ey) / ee
            if u <= 0.0 or u >= 1.0:
                j = 0 if u <= 0.0 else 1
                d = math.hypot(ends[j][0] - bx, ends[j][1] - by)
                f = ("points", k + j, i)
            else:
                d = math.hypot(x0 + u * ex - bx, y0 + u * ey - by)
                f = ("edge", i)
            if d < best:
                best, feat = d, f
        for j, (qx, qy) in enumerate(ends):                   # chain vertices against the box's faces
            ox, oy = abs(qx) - MC_HX, abs(qy) - MC_HY
            if ox > 0.0 and oy > 0.0:
                continue                                      # nearest a corner: counted above
            if oy > 0.0 and oy < best:
                best, feat = oy, ("face", k + j, 2 if qy > 0 else 0)
            elif ox > 0.0 and ox < best:
                best, feat = ox, ("face", k + j, 1 if qx > 0 else 3)
        return best, feat

    def _time_of_impact(self, c0, a0, c1, a1, k):
        """When, as a fraction of the sweep (c0, a0) -> (c1, a1), the box's core comes within
        B2_TOI_TARGET of edge k's, as Box2D's b2TimeOfImpact finds it: from the closest features
        at t1, a separating axis (their direction, the edge's normal or the box face's normal)
        is followed to the time its separation falls to the target (bisection alternating with
        false position), and the distance is measured again there. ("touching", t) or None (the
        edges stays clear, or Box2D would give up: overlapping at the start, or no convergence)."""
        target, tol = B2_TOI_TARGET, B2_TOI_TOLERANCE
        px0, py0, px1, py1 = TRACK_X[k], TRACK_Y[k], TRACK_X[k + 1], TRACK_Y[k + 1]
        t1 = 0.0
        for _ in range(20):
            c, a = self._pose(c0, a0, c1, a1, t1)
            d, feat = self._closest(c, a, k)
            if d <= 0.0:
                return None
            if d < target + tol:
                return t1
            co, si = math.cos(a), math.sin(a)
            kind = feat[0]
            if kind == "points":
                j, i = feat[1], feat[2]
                bx, by = _BOX[i]
                ax, ay = c[0] + co * bx - si * by - TRACK_X[j], c[1] + si * bx + co * by - TRACK_Y[j]
                n = math.hypot(ax, ay)
                axis = (ax / n, ay / n)
            elif kind == "edge":
                nx, ny = py1 - py0, -(px1 - px0)
                n = math.hypot(nx, ny)
                axis = (nx / n, ny / n)
                bx, by = _BOX[feat[1]]
                if (c[0] + co * bx - si * by - 0.5 * (px0 + px1)) * axis[0] + \
                        (c[1] + si * bx + co * by - 0.5 * (py0 + py1)) * axis[1] < 0.0:
                    axis = (-axis[0], -axis[1])
            else:
                j, f = feat[1], feat[2]
                axis = _BOX_N[f]
                mid = (0.5 * (_BOX[f][0] + _BOX[(f + 1) % 4][0]), 0.5 * (_BOX[f][1] + _BOX[(f + 1) % 4][1]))
                wx, wy = co * axis[0] - si * axis[1], si * axis[0] + co * axis[1]
                if (TRACK_X[j] - c[0] - co * mid[0] + si * mid[1]) * wx + \
                        (TRACK_Y[j] - c[1] - si * mid[0] - co * mid[1]) * wy < 0.0:
                    axis = (-axis[0], -axis[1])

            def separation(t, ia=None, ib=None):
                """The separation along the axis at t between the deepest features (or ia, ib)."""
                (cx, cy), at = self._pose(c0, a0, c1, a1, t)
                co, si = math.cos(at), math.sin(at)
                if kind == "face":
                    nx, ny = co * axis[0] - si * axis[1], si * axis[0] + co * axis[1]
                    qx, qy = cx + co * mid[0] - si * mid[1], cy + si * mid[0] + co * mid[1]
                    if ia is None:
                        ia = min((k, k + 1), key=lambda j: TRACK_X[j] * nx + TRACK_Y[j] * ny)
                    return (TRACK_X[ia] - qx) * nx + (TRACK_Y[ia] - qy) * ny, ia, None
                nx, ny = axis
                if ib is None:
                    ib = min(range(4), key=lambda i: (co * _BOX[i][0] - si * _BOX[i][1]) * nx
                             + (si * _BOX[i][0] + co * _BOX[i][1]) * ny)
                bx, by = _BOX[ib]
                wx, wy = cx + co * bx - si * by, cy + si * bx + co * by
                if kind == "edge":
                    return (wx - 0.5 * (px0 + px1)) * nx + (wy - 0.5 * (py0 + py1)) * ny, None, ib
                if ia is None:
                    ia = max((k, k + 1), key=lambda j: TRACK_X[j] * nx + TRACK_Y[j] * ny)
                return (wx - TRACK_X[ia]) * nx + (wy - TRACK_Y[ia]) * ny, ia, ib

            t2 = 1.0
            for _ in range(8):
                s2, ia, ib = separation(t2)
                if s2 > target + tol:
                    return None                               # clear for the rest of the sweep
                if s2 > target - tol:
                    t1 = t2
                    break
                s1 = separation(t1, ia, ib)[0]
                if s1 < target - tol:
                    return None                               # Box2D's e_failed: no impact
                if s1 <= target + tol:
                    return t1
                lo, hi = t1, t2
                for it in range(50):
                    t = lo + (target - s1) * (hi - lo) / (s2 - s1) if it & 1 else 0.5 * (lo + hi)
                    s = separation(t, ia, ib)[0]
                    if abs(s - target) < tol:
                        t2 = t
                        break
                    if s > target:
                        lo, s1 = t, s
                    else:
                        hi, s2 = t, s
            else:
                continue
            if t1 >= 1.0:
                return None
        return None

    def _first_impact(self, c0, a0, c1, a1, skip):
        """The earliest impact of the sweep over the edges that can reach the box: (t, edge) or None."""
        reach = math.hypot(c1[0] - c0[0], c1[1] - c0[1]) + abs(a1 - a0) * _BOX_R
        margin = B2_TOI_TARGET + B2_TOI_TOLERANCE
        span = _BOX_R + reach + margin
        first = None
        for k in self._edges_near(min(c0[0], c1[0]) - span, max(c0[0], c1[0]) + span):
            if k in skip or self._closest(c0, a0, k)[0] - reach > margin:
                continue                                      # cannot come within the target
            t = self._time_of_impact(c0, a0, c1, a1, k)
            if t is not None and (first is None or t < first[0]):
                first = (t, k)
        return first

    def _continuous(self, c0, a0):
        alpha0, counts, skip = 0.0, {}, set()
        for _ in range(8 * B2_MAX_SUB_STEPS):
            hit = self._first_impact(c0, a0, self._c, self._a, skip)
            if hit is None:
                return
            beta, k = hit
            alpha = alpha0 + (1.0 - alpha0) * beta
            if alpha >= 1.0 - 1e-6:
                return
            counts[k] = counts.get(k, 0) + 1
            if counts[k] > B2_MAX_SUB_STEPS:
                skip.add(k)
            c = [c0[0] + beta * (self._c[0] - c0[0]), c0[1] + beta * (self._c[1] - c0[1])]
            a = a0 + beta * (self._a - a0)
            vs, ns = self._box(c, a)
            first = self._contact(k, c, a, vs, ns)
            if first is None:            # not touching after all: Box2D drops this edge for the step
                skip.add(k)
                continue
            contacts = [first] + [m for m in self._contacts(c, a) if m[1] != k]
            self._c, self._a = c, a
            self._solve_position(contacts, B2_TOI_BAUMGARTE, B2_TOI_POSITION_ITERATIONS, -1.5 * B2_SLOP)
            c0, a0, alpha0 = list(self._c), self._a, alpha
            rows = self._velocity_rows(contacts, self._c, self._a, warm=False)
            for _ in range(B2_VELOCITY_ITERATIONS):
                self._solve_velocity(rows)
            self._integrate((1.0 - alpha) * MC_DT)

    # -- one step ----------------------------------------------------------------------------------

    def step(self, force: float) -> None:
        """One Box2D world step of MC_DT with `force` (N) along the box's own x axis at its centre."""
        x, y, a, vx, vy, w = (float(u) for u in self.body)
        c = [x, y]
        contacts = self._contacts(c, a)
        co, si = math.cos(a), math.sin(a)
        self._v = [vx + MC_DT * _INV_M * co * force, vy + MC_DT * (_INV_M * si * force - MC_GRAVITY)]
        self._w = w
        rows = self._velocity_rows(contacts, c, a, warm=True)
        for n, pts, _ in rows:        # warm start: last step's impulses at the same features
            for p in pts:
                self._push(p[0], p[1], p[4] * n[0] + p[5] * n[1], p[4] * n[1] - p[5] * n[0])
        for _ in range(B2_VELOCITY_ITERATIONS):
            self._solve_velocity(rows)
        self._impulses = {p[6]: (p[4], p[5]) for _, pts, _ in rows for p in pts}
        self._c, self._a = list(c), a
        self._integrate(MC_DT)
        self._solve_position(contacts, B2_BAUMGARTE, B2_POSITION_ITERATIONS, -3 * B2_SLOP)
        self._continuous(c, a)
        self.body = np.array([self._c[0], self._c[1], self._a, self._v[0], self._v[1], self._w])


def car_energy(body) -> float:
    """The box's mechanical energy per unit mass: translation, rotation and height."""
    x, y, a, vx, vy, w = body
    return 0.5 * (vx * vx + vy * vy) + 0.5 * MC_INERTIA / MC_MASS * w * w + MC_GRAVITY * y


class SparseMountainCarEnv(gym.Env):
    """VIME's sparse mountain car with a continuous force (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / MC_DT))}

    def __init__(self, render_mode: Optional[str] = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}")
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(-MC_FORCE_LIMIT, MC_FORCE_LIMIT, shape=(1,), dtype=np.float32)
        # x stays in (-2, 0.6) until the step that ends the episode, which may overshoot
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float64)
        self.sim = BoxOnChain()
        self._started = False

    @property
    def body(self) -> np.ndarray:
        """The simulator's state (x, y, angle, x_dot, y_dot, angular velocity); settable."""
        return self.sim.body

    @body.setter
    def body(self, value) -> None:
        self.sim.body = np.array(value, dtype=np.float64).reshape(6)
        self.sim._impulses = {}

    def _obs(self) -> np.ndarray:
        return self.sim.body[[0, 3]].copy()

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        super().reset(seed=seed)
        self.sim.reset(self.np_random.uniform(-MC_START_VEL, MC_START_VEL))
        self._started = True
        return self._obs(), {}

    def step(self, action):
        if not self._started:
            raise RuntimeError("SparseMountainCarEnv: step() before reset()")
        force = float(np.clip(np.asarray(action, dtype=np.float64).reshape(-1)[0], -MC_FORCE_LIMIT, MC_FORCE_LIMIT))
        self.sim.step(force)
        x = float(self.sim.body[0])
        terminated = x >= MC_GOAL or abs(x) >= MC_MAX_POS
        reward = 1.0 if terminated else 0.0
        return self._obs(), reward, terminated, False, {"success": terminated}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        return draw_mountain_car(self.sim.body)


def draw_mountain_car(body, height: int = 240, width: int = 400) -> np.ndarray:
    """An RGB picture of the track (x in [-2.2, 2.2]), the goal flag at x = 0.6 and the box
    (body = (x, y, angle, ...))."""
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    x_lo, x_hi, y_lo = -2.2, 2.2, -0.3
    scale = width / (x_hi - x_lo)

    def px(x, y):
        return ((x - x_lo) * scale, height - (y - y_lo) * scale)

    cols = x_lo + (np.arange(width) + 0.5) / scale
    ys = np.where(np.abs(cols) <= MC_MAX_POS, 1.0 - np.cos(0.5 * np.pi * cols), 2.0)
    rows = np.arange(height)[:, None]
    img[rows >= (height - (ys - y_lo) * scale)[None, :]] = (170, 200, 170)
    gx, gy = MC_GOAL, track_height(MC_GOAL)
    draw_segment(img, px(gx, gy), px(gx, gy + 0.4), 2, (40, 40, 40))
    draw_segment(img, px(gx, gy + 0.4), px(gx + 0.15, gy + 0.33), 5, (220, 180, 20))
    x, y, a = float(body[0]), float(body[1]), float(body[2])
    tx, ty = math.cos(a), math.sin(a)
    draw_segment(img, px(x - MC_HX * tx, y - MC_HX * ty), px(x + MC_HX * tx, y + MC_HX * ty),
                 2 * MC_HY * scale, (40, 40, 160))
    return img
