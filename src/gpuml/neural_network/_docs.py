"""The parameter, attribute and notes sections shared by the two estimators' docstrings."""

PARAMETERS = """\
    hidden_layer_sizes : array-like of shape (n_layers - 2,) or int, default=(100,)
        The number of neurons of each hidden layer.
    activation : {"identity", "logistic", "tanh", "relu"}, default="relu"
        The hidden layers' activation.
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
        "adam" and "sgd" are scikit-learn's update rules (Adam with its form of the
        bias correction; SGD with classical or Nesterov momentum). "lbfgs" is
        full-batch L-BFGS with a strong-Wolfe line search (``torch.optim.LBFGS``;
        scikit-learn uses scipy's L-BFGS-B: the same objective, slightly different
        iterates) over micro-batched loss-and-gradient passes.
    alpha : float, default=1e-4
        L2 penalty, ``alpha / (2 Σw) ||W||²`` per batch (Σw: the batch's weight sum).
    batch_size : int, "auto" or "max", default="auto"
        Rows per gradient step of the stochastic solvers. "auto": ``min(200, n_samples)``.
        "max": the largest batch whose step fits the device's memory budget in one
        piece, found by a few trial steps with a 10% safety margin and capped by the
        number of rows (the learning rate stays ``learning_rate_init``: larger batches
        take fewer, not larger, steps). Whatever the size, a batch whose activations
        do not fit is computed as micro-batches with accumulated gradients (the same
        step), and an out-of-memory error halves the micro-batch and redoes the step.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="constant"
        The schedule of "sgd": constant; ``learning_rate_init / (t + 1)^power_t``
        after each epoch (t: samples seen); or divided by 5 each time the loss (or
        validation score) stalls for ``n_iter_no_change`` epochs.
    learning_rate_init : float, default=0.001
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs of the stochastic solvers; iterations of L-BFGS.
    shuffle : bool, default=True
        Shuffle the rows at each epoch (NumPy's permutation, as scikit-learn's).
    random_state : int, RandomState instance or None, default=None
        Initial weights (Glorot uniform, drawn from NumPy as scikit-learn draws them),
        shuffles and the early-stopping split: a fixed seed reproduces scikit-learn's draws.
    tol : float, default=1e-4
        Stop when the loss (or validation score) improves by less than ``tol`` for
        ``n_iter_no_change`` consecutive epochs; L-BFGS: largest gradient entry.
    verbose : bool or int, default=False
        Print one line per epoch: loss and samples per second.
    warm_start : bool, default=False
        Start from the previous fit's weights.
    momentum : float, default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the rows (stratified for binary targets,
        as scikit-learn) and stop when their score stops improving; the best
        weights are kept.
    validation_fraction : float, default=0.1
    beta_1 : float, default=0.9
    beta_2 : float, default=0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int or np.inf, default=10
    max_fun : int, default=15000
        L-BFGS's maximum number of loss evaluations.
    device : str or torch.device, default=None
        Where to compute; None follows ``gpuml.get_config()["device"]`` ("auto").
    precision : {"auto", "float32", "float64"}, default="auto"
        Training arithmetic. "auto": bfloat16 activations and matrix products with
        float32 weights, loss and gradient sums on CUDA devices that support
        bfloat16; on the CPU, X's dtype (float64 data: scikit-learn's arithmetic);
        float32 elsewhere. "float64" matches scikit-learn on float64 data to
        rounding. Fitted weights and predictions are in X's dtype either way.
"""

ATTRIBUTES = """\
    loss_ : float
        The last epoch's mean training loss (penalty included).
    best_loss_ : float or None
        The lowest ``loss_`` (None with early stopping).
    loss_curve_ : list of float of length n_iter_
    validation_scores_ : list of float or None
        The held-out score per epoch with early stopping, else None.
    best_validation_score_ : float or None
    t_ : int
        Training samples seen by the solver (the clock of the "invscaling" schedule).
    coefs_ : list of ndarray of shape (n_units[i], n_units[i + 1])
    intercepts_ : list of ndarray of shape (n_units[i + 1],)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names.
    n_iter_ : int
        Epochs (or L-BFGS iterations) of the last call.
    n_layers_ : int
    n_outputs_ : int
    out_activation_ : str
    batch_size_ : int
        The batch size used (the one found for "max"; all rows for "lbfgs").
"""

NOTES = """\
    Notes
    -----
    Native (``_support``): every parameter value scikit-learn accepts, on dense input.
    Sparse input runs on scikit-learn's estimator when the device is "auto"
    (``engine_ == "sklearn"``, ``engine_reason_`` says why; ``partial_fit`` continues
    scikit-learn's from the same state) and is a ``gpuml.UnsupportedError`` with an
    explicit device or with ``gpuml.set_config(fallback=False)``; a sparse query to a
    gpuml fit runs on scikit-learn from the same fitted state (``as_sklearn``).
    Differences from scikit-learn, on purpose: ``precision="auto"`` trains in float32
    (or bfloat16 on CUDA) on accelerators even on float64 data; "lbfgs" is torch's
    L-BFGS (the same objective; its iterates, and so when it stops, differ slightly
    from scipy's L-BFGS-B); ``batch_size="max"`` is gpuml's. Host data is copied to the device once when it
    takes at most half the memory budget, else batch by batch; a tensor already on
    the device stays there. Class labels are read to the host once to encode them.

    Data from files and iterables: ``fit(source)`` and ``partial_fit(source)`` take
    any ``gpuml.data`` source with a target (``NpySource``, ``NpyShardsSource``,
    ``ParquetSource``, ``CsvSource``, ``IterableSource``, ``ArraySource``; sample
    weights, if any, come from the source too). A source whose rows fit half the
    resident budget (``gpuml.device.resident_budget``) is read once and trained on
    exactly as the same arrays would be: same ``random_state``, same weights.
    A larger source is *streamed*: each epoch is one pass over chunks sized by the
    memory planner (``gpuml.set_config(memory_limit=...)``), read ahead in the
    background. The shuffle is then not global: sources with random access
    (arrays, ``.npy`` files and shard folders) are read in a new random order of
    chunks each epoch, and the rows within each chunk are shuffled (Parquet, CSV
    and iterables are read in file order, shuffled within chunks only); batches are
    cut from that stream, a batch that straddles two chunks adding up its gradient
    over both. As with any out-of-core SGD the weights differ from an in-memory
    fit's (the accuracy, in our tests, within a point); a fixed ``random_state``
    reproduces them. The classifier finds ``classes_`` by one pass over the labels
    before training (``partial_fit`` checks each chunk's labels against
    ``classes_`` instead). Streamed training does not support
    ``early_stopping=True`` (a ``ValueError``: hold out validation data yourself and
    score it between ``partial_fit`` calls); "lbfgs" makes one pass per loss
    evaluation; ``batch_size="max"`` is the planner's estimate rather than a
    trial-step search. A one-shot iterator (``IterableSource`` of a generator) is
    always streamed and serves a single pass: ``max_iter=1`` or ``partial_fit``
    (with ``classes=`` for the classifier); more passes are a ``ValueError`` before
    training starts.
"""
