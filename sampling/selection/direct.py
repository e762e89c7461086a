"""DIRECT-style selection (Qi et al. 2024): PCA with variance weighting, BIRCH clusters, k per cluster.

Features are standardised; PCA keeps the components whose eigenvalue exceeds 1 (Kaiser's rule on
standardised data) and multiplies each by its explained-variance ratio; BIRCH groups the weighted scores into
``budget // k`` clusters and the ``k`` candidates closest to each centroid are picked, largest clusters first.
The BIRCH threshold adapts to the data (see ``_birch_labels``) so that 100,000 candidates fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sampling.selection.base import CandidatePool, Pick

MAX_SUBCLUSTERS = 5000
SUBCLUSTERS_PER_CLUSTER = 4
MAX_THRESHOLD_HALVINGS = 40


@dataclass(frozen=True)
class DirectSampling:
    """DIRECT with ``per_cluster`` picks per BIRCH cluster."""

    per_cluster: int = 1
    birch_threshold: float = 0.5
    name: str = "direct"

    def embed(self, features: np.ndarray) -> np.ndarray:
        """Standardised, PCA-reduced (eigenvalue > 1) and variance-weighted coordinates, shape (N, m)."""
        from sklearn.decomposition import PCA
        from sklearn.preprocessing import StandardScaler

        scaled = StandardScaler().fit_transform(features)
        scaled = np.nan_to_num(scaled)
        if scaled.shape[0] < 2:
            return scaled
        pca = PCA(svd_solver="full").fit(scaled)
        keep = max(1, int((pca.explained_variance_ > 1.0).sum()))
        return pca.transform(scaled)[:, :keep] * pca.explained_variance_ratio_[:keep]

    def _birch_labels(self, coords: np.ndarray, clusters: int, seed: int) -> np.ndarray:
        """Cluster label of every candidate, ``clusters`` clusters.

        BIRCH compresses the candidates into subclusters. Its threshold starts large (``birch_threshold`` x the
        data's RMS spread, where fits are fast) and halves until there are at least SUBCLUSTERS_PER_CLUSTER x
        ``clusters`` subclusters, never more than MAX_SUBCLUSTERS (the global step is quadratic in them). The
        subcluster centres are grouped into ``clusters`` by Ward agglomeration, as sklearn's Birch does.
        """
        from sklearn.cluster import AgglomerativeClustering, Birch, KMeans

        if len(coords) <= clusters:
            return np.arange(len(coords))
        spread = float(np.sqrt(((coords - coords.mean(axis=0)) ** 2).sum(axis=1).mean())) or 1.0
        threshold = self.birch_threshold * spread
        wanted = min(SUBCLUSTERS_PER_CLUSTER * clusters, len(coords))
        chosen = None
        for _ in range(MAX_THRESHOLD_HALVINGS):
            birch = Birch(n_clusters=None, threshold=threshold).fit(coords)
            if len(birch.subcluster_centers_) > MAX_SUBCLUSTERS and chosen is not None:
                break
            chosen = birch
            if len(birch.subcluster_centers_) >= wanted or len(birch.subcluster_centers_) > MAX_SUBCLUSTERS:
                break
            threshold /= 2.0
        assert chosen is not None
        centres = chosen.subcluster_centers_
        nearest_subcluster = chosen.predict(coords)
        if len(centres) <= clusters:
            return nearest_subcluster
        if len(centres) <= MAX_SUBCLUSTERS:
            grouping = AgglomerativeClustering(n_clusters=clusters).fit_predict(centres)
        else:
            grouping = KMeans(n_clusters=clusters, n_init=1, random_state=seed).fit_predict(centres)
        return grouping[nearest_subcluster]

    def select(self, pool: CandidatePool, *, budget: int, seed: int) -> list[Pick]:
        """Ordered picks: the candidate nearest each cluster centroid, clusters by decreasing size."""
        n = len(pool)
        if n == 0 or budget <= 0:
            return []
        coords = self.embed(pool.features)
        clusters = max(1, min(n, budget // max(1, self.per_cluster)))
        labels = self._birch_labels(coords, clusters, seed)
        members_of = {int(label): np.flatnonzero(labels == label) for label in np.unique(labels)}
        # largest clusters first; ties broken by the smallest id so the order is reproducible
        order = sorted(members_of, key=lambda c: (-len(members_of[c]), min(pool.ids[int(i)] for i in members_of[c])))
        picks: list[Pick] = []
        for label in order:
            members = members_of[label]
            centroid = coords[members].mean(axis=0)
            distance = np.linalg.norm(coords[members] - centroid, axis=1)
            ranked = sorted(range(len(members)), key=lambda k: (distance[k], pool.ids[int(members[k])]))
            for k in ranked[: self.per_cluster]:
                if len(picks) >= budget:
                    break
                index = int(members[k])
                reason = (
                    f"closest to the centroid of BIRCH cluster {label} ({len(members)} candidates, "
                    f"distance {distance[k]:.3g} in weighted PCA space)"
                )
                picks.append(Pick(len(picks) + 1, index, pool.ids[index], reason, pool.score_summary(index)))
        return picks
