"""The served MLServer runtime: stock mlserver-xgboost plus V2 input checks.

``mlserver_xgboost.XGBoostModel`` hands whatever tensor it gets to NumPy and XGBoost,
so a wrong shape, strings or BYTES come back as HTTP 500 with a Python or C++ trace,
and ``null`` or a negative batch size pass as a prediction. This subclass checks the
request with ``serving.v2.check_infer_inputs`` (feature count read from the loaded
booster) and answers MLServer's 400 error JSON naming the field and the value; valid
requests go to the stock ``predict`` unchanged, apart from nested data flattened.

Configure it as ``"implementation": "serving.mlserver_runtime.ValidatingXGBoostModel"``
(``serving.model_repo.XGBOOST_RUNTIME``) or ``MLSERVER_MODEL_IMPLEMENTATION``.

Notes:
    With adaptive batching on, MLServer merges concurrent requests before ``predict``
    runs, so the check sees the merged batch: one malformed request fails the requests
    batched with it, and a shape without a batch axis (``[]``) fails in MLServer's
    batcher (HTTP 500) before this code runs. See the README's V2 section.
"""

from __future__ import annotations

from mlserver.errors import InferenceError
from mlserver.types import Datatype, InferenceRequest, InferenceResponse, TensorData
from mlserver_xgboost import XGBoostModel

from serving.v2 import V2InputError, V2Tensor, check_infer_inputs

__all__ = ["ValidatingXGBoostModel"]


def _content_type(parameters: object) -> str | None:
    return getattr(parameters, "content_type", None)


class ValidatingXGBoostModel(XGBoostModel):
    """``XGBoostModel`` that refuses malformed V2 inputs with HTTP 400."""

    async def load(self) -> bool:
        """Load the booster (stock) and remember its feature count."""
        loaded = await super().load()
        self._n_features = int(self._model.n_features_in_)
        return loaded

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        """Check ``payload``'s inputs, then run the stock ``predict``.

        Raises:
            InferenceError: HTTP 400 whose message names the field and the value.
        """
        tensors = [
            V2Tensor(t.name, Datatype(t.datatype).value, t.shape, t.data.root,
                     _content_type(t.parameters))
            for t in payload.inputs
        ]  # fmt: skip
        try:
            values = check_infer_inputs(
                tensors, self._n_features, _content_type(payload.parameters)
            )
        except V2InputError as exc:
            raise InferenceError(str(exc)) from None
        payload.inputs[0].data = TensorData(values)
        return await super().predict(payload)
