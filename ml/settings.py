"""One settings object, read once per entrypoint and passed down.

Every field can be overridden with an environment variable: prefix ``BVP_``, nested
groups joined by ``__`` (for example ``BVP_SERVING__HTTP_PORT=9000``). Defaults run the
embedded local path: bundled candles, sqlite MLflow under ``.bvp/``, MLServer, the
transformer and Gradio on 127.0.0.1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ml._typing import GapPolicy
from ml.data import parse_day
from ml.errors import DataValidationError
from ml.labels import DEFAULT_THRESHOLDS, MAX_THRESHOLD, V30_WINDOW, check_thresholds
from ml.monitoring import DecisionRule, GateTest

__all__ = [
    "AwsSettings",
    "DataSettings",
    "MlflowSettings",
    "ServingSettings",
    "Settings",
    "TargetSettings",
    "TrainSettings",
    "TransformerSettings",
    "UiSettings",
    "MonitoringSettings",
]


Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP port (a port outside 1..65535 made the server bind a random one)."""


class _Group(BaseModel):
    """A settings group: an unknown key (BVP_SERVING__HTTP_PROT) is an error, not
    silently ignored."""

    model_config = ConfigDict(extra="forbid")


class DataSettings(_Group):
    daily_path: Path | None = None
    """Daily candle file; None means the bundled Binance BTCUSDT file."""
    h4_path: Path | None = None
    """4-hour candle file; None means the bundled one. Set to an empty file path to
    train without intraday features is not supported: use ``use_4h``."""
    use_4h: bool = True
    """Use 4-hour candles for realized-variance features."""
    gap_policy_1d: GapPolicy = "raise"
    """Missing daily candles: ``raise`` fails validation, ``report`` keeps going."""
    gap_policy_4h: GapPolicy = "report"
    """Missing 4-hour candles (Binance maintenance windows exist): usually ``report``."""
    binance_base_url: str = "https://api.binance.com"
    """Binance spot REST base URL. Regions answered with HTTP 451 can use the public
    market-data host https://data-api.binance.vision."""
    binance_symbol: str = "BTCUSDT"
    """Trading pair fetched from Binance."""
    kaggle_dataset: str = "novandraanugrah/bitcoin-historical-datasets-2018-2024"
    """Kaggle dataset slug (owner/name) with BTC candles."""
    store_dir: Path | None = None
    """Local candle store; None means ``<home>/data``."""
    binance_timeout_s: float = 10.0
    """Timeout of one Binance request (connect and read), seconds."""
    binance_max_retries: int = Field(default=5, ge=0)
    """Retries after a 429/418/5xx answer or a network error, per request."""
    binance_backoff_s: float = Field(default=1.0, ge=0)
    """First backoff delay; doubles per retry when no ``Retry-After`` is sent."""
    binance_max_wait_s: float = Field(default=120.0, ge=0)
    """Longest single wait honoured (``Retry-After`` or backoff); a longer
    ``Retry-After`` (an IP ban, HTTP 418) fails at once instead of hanging."""
    binance_page_limit: int = Field(default=1000, ge=1, le=1000)
    """Candles per klines request (Binance allows at most 1000)."""
    binance_start: str = "2017-08-17"
    """First day fetched when the store has no candles (BTCUSDT listing day)."""
    kaggle_files: dict[str, str] = Field(
        default_factory=lambda: {"1d": "btc_1d_data_*.csv", "4h": "btc_4h_data_*.csv"}
    )
    """Glob of the candle file per interval inside the Kaggle dataset."""
    kaggle_config_dir: Path | None = None
    """Directory with a mounted ``kaggle.json`` secret; None uses ``KAGGLE_USERNAME``/
    ``KAGGLE_KEY`` from the environment, then ``~/.kaggle/kaggle.json``."""


class TargetSettings(_Group):
    thresholds: tuple[float, float] = DEFAULT_THRESHOLDS
    """V30 cut points (annualised): Low if V30 <= first, Normal if <= second, else High."""
    window: int = Field(default=V30_WINDOW, ge=2)
    """Days of log returns in V30."""
    max_horizon: int = Field(default=30, ge=1, le=30)
    """Largest forecast horizon in days; horizons are 1..max_horizon."""

    @field_validator("thresholds")
    @classmethod
    def _increasing(cls, v: tuple[float, float]) -> tuple[float, float]:
        try:  # the API's and the CLI's rule: Infinity and 11 are refused here too
            return check_thresholds(v)
        except DataValidationError:
            raise ValueError(
                f"expected two thresholds with 0 < low < high <= {MAX_THRESHOLD:g}"
            ) from None


class TrainSettings(_Group):
    seed: int = 7
    """Seed for every random number generator."""
    n_estimators: int = 300
    """Boosting rounds."""
    max_depth: int = 3
    """Tree depth."""
    learning_rate: float = 0.03
    """Shrinkage."""
    subsample: float = 0.8
    """Row subsampling per tree."""
    colsample_bytree: float = 0.8
    """Feature subsampling per tree."""
    min_child_weight: float = 20.0
    """Minimum hessian in a leaf (regularises toward smooth probabilities)."""
    n_jobs: int = 2
    """Threads for training."""
    first_test_origin: str = "2021-01-01"
    """First origin day of the walk-forward evaluation."""
    refit_every: int = 30
    """Days between walk-forward refits."""
    train_start: str | None = None
    """Ignore candles before this day (None: use all)."""
    train_end: str | None = None
    """Ignore candles after this day (None: use all). Used for small test slices."""
    baselines: str = "climatology,persistence,seed_logistic,har_rv,garch_t"
    """Comma-separated baselines evaluated walk-forward beside the model ("" for none)."""

    @field_validator("first_test_origin", "train_start", "train_end")
    @classmethod
    def _day(cls, v: str | None) -> str | None:
        """A YYYY-MM-DD day, refused at start rather than minutes into training."""
        if v is None:
            return v
        try:
            parse_day(v, "day")
        except DataValidationError as exc:
            raise ValueError(exc.rule) from None
        return v


class MlflowSettings(_Group):
    tracking_uri: str | None = None
    """MLflow tracking URI; None means sqlite at ``<home>/mlflow.db``."""
    artifact_root: str | None = None
    """Artifact root for new experiments; None means ``<home>/mlartifacts``."""
    experiment: str = "volatility_prediction"
    """Experiment for training and walk-forward runs."""
    model_name: str = "btc-volatility"
    """Registered model name."""
    champion_alias: str = "champion"
    """Alias of the model version that serves."""


class ServingSettings(_Group):
    host: str = "127.0.0.1"
    """MLServer bind address."""
    http_port: Port = 8080
    """MLServer REST port (V2 protocol)."""
    grpc_port: Port = 8081
    """MLServer gRPC port."""
    metrics_port: Port = 8082
    """MLServer Prometheus metrics port."""
    parallel_workers: int = Field(default=1, ge=0)
    """MLServer inference worker processes (0 runs inference in the server process).
    Chosen with ``bench/serving.py`` on a 2-core machine; see the serving README."""
    max_batch_size: int = Field(default=32, ge=0)
    """MLServer adaptive batching: most requests merged into one call (0 or 1: off).
    bench/serving.py --sweep on 2 cores (30-row requests): 1 worker + 32/2 ms gave 427
    req/s at concurrency 8 vs 219 without batching, p99 11 ms at concurrency 1."""
    max_batch_time_s: float = Field(default=0.002, ge=0)
    """MLServer adaptive batching: longest wait for a batch to fill, seconds (a lone
    request waits up to this long; 2 ms measured no worse p50 than batching off)."""
    url: str | None = None
    """Base URL of the V2 predictor for clients; None means http://host:http_port."""
    timeout_s: float = 5.0
    """Client timeout for predictor calls."""


class TransformerSettings(_Group):
    host: str = "127.0.0.1"
    """Transformer bind address."""
    http_port: Port = 8090
    """Transformer REST port."""
    grpc_port: Port = 8091
    """Transformer gRPC port."""
    max_batch: int = Field(default=64, ge=1)
    """Largest number of instances in one request (``{"instances": [...]}``)."""
    max_candle_instances: int = Field(default=8, ge=1)
    """Largest number of instances in one request that bring their own ``candles``:
    each costs about a second of CPU (features and the structural model on its
    candles; the served days are table lookups), so 64 of them held the server for
    over a minute."""
    max_body_bytes: int = Field(default=2_000_000, ge=1)
    """Largest request body accepted, bytes; larger bodies get 413 before parsing."""
    predictor_timeout_s: float = Field(default=2.0, gt=0)
    """Timeout of one call to the V2 predictor (MLServer), seconds."""
    predictor_health_check: bool = True
    """Readiness follows the predictor: ``/v2/health/ready`` and
    ``/v2/models/{name}/ready`` answer 503 while MLServer is down or its model is not
    loaded (forecasts would be 503 anyway); liveness stays 200. KServe's
    ``--enable_predictor_health_check``, on by default here."""
    predictor_retries: int = Field(default=2, ge=0)
    """Extra attempts when the predictor is briefly unavailable (connection refused,
    model reloading); each waits ``predictor_backoff_s`` times the attempt number."""
    predictor_backoff_s: float = Field(default=0.05, ge=0)
    """Base wait between predictor attempts, seconds."""
    url: str | None = None
    """Base URL of the transformer for clients; None means http://host:http_port."""
    structural_path: Path | None = None
    """``structural.json`` of the served version (volatility level, any thresholds);
    None means ``<home>/serving/repo/<model>/structural.json``. Re-read when the file
    changes (a reload of the champion). Without it answers carry the classifier's
    probabilities at the trained thresholds only."""


class UiSettings(_Group):
    host: str = "127.0.0.1"
    """Gradio bind address."""
    port: Port = 7860
    """Gradio port."""
    root_path: str = ""
    """Sub-path when served behind an ingress (e.g. /btc)."""
    server_url: str | None = None
    """Prediction server (KServe transformer) base URL; None means the local one
    (``transformer_url``)."""


class AwsSettings(_Group):
    region: str = "us-east-1"
    """AWS region."""
    endpoint_url: str | None = None
    """Override the AWS endpoint (moto in tests); None uses the real service."""
    bucket: str | None = None
    """S3 bucket for model artifacts."""
    endpoint_name: str = "btc-volatility"
    """SageMaker endpoint name."""
    instance_type: str = "ml.t2.medium"
    """SageMaker instance type."""
    role_arn: str | None = None
    """SageMaker execution role ARN."""
    image_uri: str | None = None
    """Serving image in ECR for SageMaker (pin a tag or digest, never ``latest``)."""
    name_prefix: str = "btc-volatility"
    """Prefix of every SageMaker model/endpoint config name and of the S3 key; cleanup
    only considers resources whose name starts with it."""
    project_tag: str = "btc-volatility"
    """Value of the ``project`` tag put on every created resource; cleanup deletes only
    resources carrying it."""
    instance_count: int = Field(default=1, ge=1)
    """Instances behind the production variant."""
    variant_name: str = "AllTraffic"
    """Production variant name."""
    termination_wait_s: int = Field(default=0, ge=0, le=3600)
    """Blue/green baking period: seconds SageMaker keeps the old (blue) fleet after
    traffic moved to the new one, so alarms can trigger its automatic rollback."""
    rollback_alarms: list[str] = Field(default_factory=list)
    """CloudWatch alarm names that make SageMaker roll a blue/green update back."""
    wait_delay_s: int = Field(default=30, ge=1)
    """Seconds between endpoint status polls while creating/updating/deleting."""
    wait_max_attempts: int = Field(default=120, ge=1)
    """Status polls before giving up (default 30 s x 120 = one hour)."""
    smoke_atol: float = Field(default=1e-4, gt=0)
    """Largest absolute difference allowed between the endpoint's probabilities and
    the local booster's in the smoke test."""


DeployTarget = Literal["none", "kserve", "sagemaker"]
NewDataSource = Literal["none", "binance", "kaggle"]


class MonitoringSettings(_Group):
    experiment: str = "volatility_monitoring"
    """Experiment for monitoring runs."""
    window_days: int = 180
    """Recent window compared with the training reference."""
    drift_share: float = Field(default=0.5, gt=0, le=1)
    """Share of drifted features that counts as drift."""
    drift_threshold: float = Field(default=0.1, gt=0)
    """Normalised Wasserstein distance at which one feature counts as drifted
    (Evidently's default for references above 1000 rows)."""
    min_rows: int = Field(default=30, ge=1)
    """Fewest finite values per window for a feature to be tested; smaller current
    windows give no drift verdict (reported, not an error)."""
    rule: DecisionRule = "drift_and_degradation"
    """Retrain rule (see ``ml.monitoring.decide``): drift_and_degradation, degradation,
    drift, seed (the seed's metric floors), always, never."""
    min_skill: float = 0.0
    """Skill over climatology (1 - log loss / climatology log loss) on matured labels
    below which the champion counts as degraded."""
    severe_skill: float = -0.25
    """Skill below which the champion is retrained even without drift."""
    min_label_days: int = Field(default=30, ge=1)
    """Fewest origin days with matured labels for a performance verdict."""
    gate_days: int = Field(default=91, ge=14)
    """Gate window: the challenger is fitted on labels known before it and compared
    with the champion on its origins (13 weeks)."""
    gate_test: GateTest = "dm_hac"
    """Paired test of the gate: dm_hac (Diebold-Mariano, HAC variance) or
    block_wilcoxon (signed-rank on weekly block means)."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """One-sided significance level of the gate."""
    challenger_alias: str = "challenger"
    """Alias of the latest retrained version."""
    previous_alias: str = "previous"
    """Alias of the champion before the last promotion (rollback target)."""
    deploy_target: DeployTarget = "none"
    """Where a promotion is deployed: none (local MLServer reloads the alias), kserve,
    sagemaker."""
    new_data_source: NewDataSource = "none"
    """Source polled for new candles before retraining: none (use the configured
    files), binance or kaggle (updates the local store)."""
    cron: str = "0 3 * * 1"
    """Five-field cron of the recurring monitoring run (Mondays 03:00)."""
    replay_n_estimators: int = Field(default=100, ge=1)
    """Boosting rounds of the models fitted by ``bvp replay`` (speed over accuracy)."""
    replay_stride: int = Field(default=3, ge=1)
    """``bvp replay`` keeps every stride-th origin and horizon of the training rows."""


class Settings(BaseSettings):
    """All settings of one process."""

    model_config = SettingsConfigDict(
        env_prefix="BVP_", env_nested_delimiter="__", extra="forbid"
    )

    home: Path = Path(".bvp")
    """State directory: MLflow database and artifacts, pipeline root, logs, pids."""
    log_json: bool = False
    """Log as JSON lines."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Root log level (any case)."""
    data: DataSettings = Field(default_factory=DataSettings)
    target: TargetSettings = Field(default_factory=TargetSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    mlflow: MlflowSettings = Field(default_factory=MlflowSettings)
    serving: ServingSettings = Field(default_factory=ServingSettings)
    transformer: TransformerSettings = Field(default_factory=TransformerSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    aws: AwsSettings = Field(default_factory=AwsSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, v: object) -> object:
        return v.upper() if isinstance(v, str) else v

    @field_validator("home", mode="before")
    @classmethod
    def _non_empty_home(cls, v: object) -> object:
        if isinstance(v, str) and not v.strip():
            raise ValueError(
                "expected a directory (an empty value would mean the current one)"
            )
        return v

    @model_validator(mode="after")
    def _absolute_home(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        return self

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI (sqlite under home unless configured)."""
        return self.mlflow.tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        """Artifact root for experiments created here."""
        return self.mlflow.artifact_root or (self.home / "mlartifacts").as_uri()

    @property
    def predictor_url(self) -> str:
        """V2 predictor base URL."""
        return (
            self.serving.url or f"http://{self.serving.host}:{self.serving.http_port}"
        )

    @property
    def transformer_url(self) -> str:
        """Transformer base URL."""
        t = self.transformer
        return t.url or f"http://{t.host}:{t.http_port}"
