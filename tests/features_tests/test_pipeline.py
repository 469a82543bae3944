"""The feature pipeline: one transformer, identical in the training and the serving path."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from features.errors import InputError
from features.pipeline import MODEL_FEATURES, CaseFeatures


def test_train_and_serve_paths_give_identical_matrices(small_data) -> None:
    frame = small_data.frame
    trained = CaseFeatures().fit(small_data.inspected)
    served = pickle.loads(pickle.dumps(trained))  # the pipeline travels with the model
    # Serving receives JSON records (plain strings, ints and bools), not typed frames.
    records = pd.DataFrame.from_records(frame.astype(object).to_dict(orient="records"))
    records["iom"] = records["iom"].astype(bool)
    pd.testing.assert_frame_equal(trained.transform(frame), served.transform(records))


def test_encoding_is_one_float_column_per_contract_column(small_data) -> None:
    matrix = CaseFeatures().fit_transform(small_data.frame)
    assert list(matrix.columns) == [f.name for f in MODEL_FEATURES]
    assert (matrix.dtypes == np.float64).all() and not matrix.isna().any().any()
    frame = small_data.frame
    np.testing.assert_array_equal(matrix["provider_type"], frame["provider_type"] == "CRC")
    np.testing.assert_array_equal(
        matrix["rosh_level"], frame["rosh_level"].cat.codes.to_numpy(dtype=float)
    )
    np.testing.assert_array_equal(matrix["officer_caseload"], frame["officer_caseload"])


def test_protected_characteristics_are_excluded_unless_asked_for(small_data) -> None:
    default = CaseFeatures().fit(small_data.frame)
    research = CaseFeatures(include_protected=True).fit(small_data.frame)
    assert not {"gender", "ethnicity", "age"} & set(default.get_feature_names_out())
    assert {"gender", "ethnicity", "age"} <= set(research.get_feature_names_out())
    assert research.nominal_features_ == ["sentence_type", "ethnicity"]


def test_unknown_categories_become_missing_not_errors(small_data) -> None:
    features = CaseFeatures().fit(small_data.frame)
    odd = small_data.frame.head(3).astype(object)
    odd.loc[odd.index[0], "rosh_level"] = "extreme"
    odd.loc[odd.index[1], "sentence_type"] = "youth_order"
    odd.loc[odd.index[2], "officer_caseload"] = None
    matrix = features.transform(odd)
    assert np.isnan(matrix.iloc[0]["rosh_level"]) and np.isnan(matrix.iloc[1]["sentence_type"])
    assert np.isnan(matrix.iloc[2]["officer_caseload"])
    assert (
        matrix.drop(columns=["rosh_level", "sentence_type", "officer_caseload"]).notna().all().all()
    )


def test_missing_input_column_is_a_clear_error(small_data) -> None:
    features = CaseFeatures().fit(small_data.frame)
    with pytest.raises(InputError, match="officer_caseload"):
        features.transform(small_data.frame.drop(columns="officer_caseload"))
