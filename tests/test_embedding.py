import numpy as np

from grader.core.embedding import TOKENS_PER_BATCH


def test_model_calls_stay_within_the_token_budget_and_batching_changes_nothing(grader, monkeypatch):
    backend = grader.embedder.backend
    texts = ([f"short answer {i}" for i in range(40)]
             + ["a long answer about " + "gradient descent and its learning rate " * 40] * 9
             + [f"a middling answer number {i} about dropout, which " + "regularises the network " * 8
                for i in range(20)])
    shapes = []
    forward = backend._forward

    def spy(ids, mask):
        shapes.append(ids.shape)
        return forward(ids, mask)

    monkeypatch.setattr(backend, "_forward", spy)
    batched = backend.encode_full(texts)
    assert all(rows * width <= TOKENS_PER_BATCH for rows, width in shapes)
    assert max(rows for rows, _ in shapes) == 32          # short texts still fill whole batches
    assert sum(rows for rows, _ in shapes) == len(texts)
    for i in (0, 39, 40, 48, 49, 68):
        alone = backend.encode_full([texts[i]])[0]
        assert batched[i].text == texts[i]
        np.testing.assert_allclose(batched[i].vector, alone.vector, atol=1e-4)
        np.testing.assert_allclose(batched[i].tokens, alone.tokens, atol=1e-3)
        np.testing.assert_array_equal(batched[i].offsets, alone.offsets)
