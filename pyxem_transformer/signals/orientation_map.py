"""The result signal of transformer orientation mapping.

Each navigation pixel holds an ``(n_best, len(COLUMNS))`` table; row 0 is
the best answer and the columns are
:data:`~pyxem_transformer.mapping.result.COLUMNS`: the rotation as a unit
quaternion in the diffsims/orix convention used by pyxem template matching,
the phase index into the stored phase list, a confidence in [0, 1] (0 where
the pattern had too few peaks), the number of tokens the model read, the fit
quality (``explained``, ``fit_rms``) and the direct beam the tokens were
measured from (``beam_kx``, ``beam_ky``).
The phases travel in the metadata as plain JSON (``Transformer.phases``),
so a saved result loads back complete with ``hs.load``.
"""

import json

import numpy as np
from hyperspy._signals.lazy import LazySignal
from hyperspy._signals.signal2d import Signal2D
from orix.crystal_map import CrystalMap, PhaseList
from orix.plot import IPFColorKeyTSL
from orix.quaternion import Orientation, Rotation
from orix.vector import Vector3d

from pyxem_transformer.crystal.phase_io import phase_from_dict
from pyxem_transformer.mapping.result import (  # noqa: F401  (their home in 0.1)
    COLUMNS,
    SIGNAL_TYPE,
    orientation_map_from_arrays,
    result_signal,
)

__all__ = ["LazyTransformerOrientationMap", "TransformerOrientationMap"]


class TransformerOrientationMap(Signal2D):
    """Orientations, phases and confidences from a transformer model.

    The signal axes are ``columns`` (see :attr:`columns`) and
    ``n_best`` (candidates, best first).
    """

    _signal_type = SIGNAL_TYPE

    @property
    def phases(self) -> PhaseList:
        """The phases the phase indices refer to."""
        text = self.metadata.get_item("Transformer.phases")
        if text is None:
            raise ValueError(
                "This orientation map has no phase list in its metadata "
                "(Transformer.phases); it was not made by pyxem_transformer."
            )
        phases = [phase_from_dict(d) for d in json.loads(text)]
        return PhaseList(phases=phases, ids=list(range(len(phases))))

    @property
    def n_best(self) -> int:
        """Number of candidates stored per pixel."""
        return self.axes_manager.signal_shape[1]

    @property
    def columns(self) -> list[str]:
        """Names of the table's columns (results saved before the fit-quality
        and beam columns hold the first seven of :data:`COLUMNS`)."""
        stored = self.metadata.get_item("Transformer.columns")
        return list(stored) if stored else list(COLUMNS[: self._n_columns()])

    def _n_columns(self) -> int:
        return self.axes_manager.signal_shape[0]

    def _table(self) -> np.ndarray:
        return np.asarray(self.data).reshape(
            *self.axes_manager.navigation_shape[::-1], self.n_best, self._n_columns()
        )

    def to_phase_index(self) -> np.ndarray:
        """Return the phase indices, shape ``(*scan, n_best)``; -1: not indexed.

        Returns
        -------
        index
            Integer array.
        """
        return np.rint(self._table()[..., 4]).astype(int)

    def to_single_phase_orientations(self) -> Orientation:
        """Return the orientations of a single-phase map, shape ``(*scan, n_best)``.

        As pyxem's ``OrientationMap.to_single_phase_orientations``: the
        orientations carry the phase's point group.

        Returns
        -------
        orientations
            orix ``Orientation`` with the phase's point group.
        """
        phases = self.phases
        if len(phases.ids) != 1:
            raise ValueError(
                "Multiple phases in this map: use to_crystal_map() instead."
            )
        return Orientation(self._table()[..., :4], symmetry=phases[0].point_group)

    def _rgb_signal(self, rgb: np.ndarray):
        import hyperspy.api as hs

        signal = hs.signals.Signal1D((np.clip(rgb, 0, 1) * 255).astype(np.uint8))
        signal.change_dtype("rgb8")
        signal = signal.T
        # rgb8 images become navigation-only signals after ``.T`` (as in
        # pyxem), ready to be passed as ``navigator=``.
        for axis, source in zip(
            signal.axes_manager._axes, self.axes_manager.navigation_axes, strict=True
        ):
            axis.name, axis.units = source.name, source.units
            axis.scale, axis.offset = source.scale, source.offset
        return signal

    def to_phase_map(self):
        """Return an RGB image of the best phase per pixel, in the phase colours.

        Usable as ``navigator=`` of the diffraction signal's ``plot``. Unlike
        pyxem's, it also works for a single phase.

        Returns
        -------
        image
            An RGB hyperspy signal.
        """
        index = self.to_phase_index()[..., 0]
        rgb = np.zeros((*index.shape, 3))  # not indexed: black
        for i in self.phases.ids:
            rgb[index == i] = self.phases[i].color_rgb
        return self._rgb_signal(rgb)

    def to_ipf_colormap(self, direction: Vector3d | None = None):
        """Return an RGB image of IPF colours of the best orientation per pixel.

        Each pixel is coloured with the IPF key (orix ``IPFColorKeyTSL``) of
        its own phase's point group, along ``direction`` in the sample frame
        (default the beam, z).

        Parameters
        ----------
        direction
            Sample direction of the IPF key; None: the beam (z).

        Returns
        -------
        image
            An RGB hyperspy signal.
        """
        direction = Vector3d.zvector() if direction is None else direction
        table = self._table()[..., 0, :]
        phase_index = np.rint(table[..., 4]).astype(int)
        rgb = np.zeros((*phase_index.shape, 3))
        for i in self.phases.ids:
            here = phase_index == i
            if here.any():
                symmetry = self.phases[i].point_group
                key = IPFColorKeyTSL(symmetry, direction)
                rgb[here] = key.orientation2color(
                    Orientation(table[here][:, :4], symmetry=symmetry)
                )
        return self._rgb_signal(rgb)

    def to_markers(
        self,
        max_excitation_error: float = 0.05,
        color: str = "red",
        size: float = 8,
        **kwargs,
    ):
        """Return hyperspy markers of the spots each best orientation excites.

        Like pyxem's ``OrientationMap.to_markers`` (best candidate only):
        add them to the mapped signal with ``s.add_marker(markers)`` or use
        :meth:`plot_over_signal`. Spots are drawn in the signal's calibrated
        frame (1/Å), so the signal's calibration must be the one used for
        mapping.

        Parameters
        ----------
        max_excitation_error
            Draw reflections with ``|s|`` up to this, in 1/Å.
        color
            Marker colour.
        size
            Marker size in points.
        **kwargs
            Passed to ``hyperspy.api.plot.markers.Points``.

        Returns
        -------
        markers
            ``hyperspy.api.plot.markers.Points`` with one set per pixel.
        """
        import hyperspy.api as hs

        from pyxem_transformer.mapping.markers import predicted_spots

        table = self._table()[..., 0, :]
        scan = table.shape[:-1]
        spots = predicted_spots(
            table[..., :4].reshape(-1, 4),
            np.rint(table[..., 4]).astype(int).reshape(-1),
            self.phases,
            max_excitation_error=max_excitation_error,
        )
        columns = self.columns
        if "beam_kx" in columns:  # drawn about each pattern's own beam
            beam = table[..., [columns.index("beam_kx"), columns.index("beam_ky")]]
            for i, b in enumerate(beam.reshape(-1, 2)):
                spots[i] = spots[i] + b
        return hs.plot.markers.Points(
            offsets=spots.reshape(scan), sizes=size, color=color, **kwargs
        )

    def plot_over_signal(self, signal, add_markers: bool = True, **kwargs) -> None:
        """Plot ``signal`` with this map as navigator and the predicted spots.

        As pyxem's ``OrientationMap.plot_over_signal``: the navigator is the
        phase map for several phases, else the IPF-Z colour map.

        Parameters
        ----------
        signal
            The mapped ``Diffraction2D``.
        add_markers
            Overlay :meth:`to_markers`.
        **kwargs
            Passed to the signal's ``plot``.
        """
        if signal.axes_manager.navigation_shape != self.axes_manager.navigation_shape:
            raise ValueError(
                f"The signal's scan {signal.axes_manager.navigation_shape} is not "
                f"this map's {self.axes_manager.navigation_shape}."
            )
        several = len(self.phases.ids) > 1
        navigator = self.to_phase_map() if several else self.to_ipf_colormap()
        signal.plot(navigator=navigator, **kwargs)
        if add_markers:
            signal.add_marker(self.to_markers())

    def to_column_map(self, name: str = "explained"):
        """Return one column of the best answers as a scan image, to plot.

        ``om.to_column_map("explained").plot()`` shows where the answers
        explain their peaks (the fit quality, judged without ground truth);
        ``"fit_rms"``, ``"confidence"`` or ``"beam_kx"``/``"beam_ky"`` (the
        descan) work alike.

        Parameters
        ----------
        name
            One of :attr:`columns` after the quaternion.

        Returns
        -------
        image
            A hyperspy ``Signal2D`` (``Signal1D`` for a line scan) over the
            scan axes.
        """
        import hyperspy.api as hs

        columns = self.columns
        if name not in columns[4:]:
            raise ValueError(f"No column {name!r}; this map has {columns[4:]}.")
        values = self._table()[..., 0, columns.index(name)].astype(np.float32)
        image = (hs.signals.Signal2D if values.ndim == 2 else hs.signals.Signal1D)(
            values
        )
        for axis, source in zip(
            image.axes_manager._axes, self.axes_manager.navigation_axes, strict=True
        ):
            axis.name, axis.units = source.name, source.units
            axis.scale, axis.offset = source.scale, source.offset
        image.metadata.General.title = f"{name} (best answer)"
        return image

    def to_crystal_map(self) -> CrystalMap:
        """Return an orix ``CrystalMap`` of the best candidate per pixel.

        The scan axes come from the navigation calibration; the properties
        are the best answer's columns after the phase (``confidence``,
        ``n_tokens``, the fit quality ``explained`` and ``fit_rms``, and
        ``beam_kx``, ``beam_ky``), and for ``n_best > 1`` ``confidence_<k>``
        of the runners-up, whose rotations are kept as extra rotations per
        point.

        Returns
        -------
        xmap
            An orix crystal map with this map's phase list.
        """
        am = self.axes_manager
        if am.navigation_dimension not in (1, 2):
            raise ValueError(
                "A crystal map needs a line or map scan (navigation dimension "
                f"1 or 2), this result has {am.navigation_dimension}."
            )
        table = self._table().reshape(-1, self.n_best, self._n_columns())
        rotations = Rotation(table[:, :, :4] if self.n_best > 1 else table[:, 0, :4])
        phase_id = np.rint(table[:, 0, 4]).astype(int)
        prop = {
            name: table[:, 0, i].astype(float)
            for i, name in enumerate(self.columns)
            if i > 4
        }
        for k in range(1, self.n_best):
            prop[f"confidence_{k}"] = table[:, k, 5].astype(float)
        nav = am.navigation_axes  # hyperspy order: x first
        x = nav[0].axis
        if am.navigation_dimension == 2:
            xx, yy = np.meshgrid(nav[0].axis, nav[1].axis)
            x, y = xx.ravel(), yy.ravel()
        else:
            y = None
        units = nav[0].units if isinstance(nav[0].units, str) else "px"
        return CrystalMap(
            rotations=rotations,
            phase_id=phase_id,
            x=np.asarray(x, dtype=float),
            y=None if y is None else np.asarray(y, dtype=float),
            phase_list=self.phases,
            prop=prop,
            scan_unit=units,
        )


class LazyTransformerOrientationMap(LazySignal, TransformerOrientationMap):
    """Lazy (dask) version of :class:`TransformerOrientationMap`."""
