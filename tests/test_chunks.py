from worldwarp.chunks import all_spans
from worldwarp.config import ChunkConfig


def test_spans_tile_the_video_with_history_overlap():
    cfg = ChunkConfig(frames=49, history=5, count=4)
    spans = all_spans(cfg)
    assert [s.start for s in spans] == [0, 44, 88, 132]
    assert spans[-1].stop == cfg.total_frames == 181
    assert spans[0].history == 1 and all(s.history == 5 for s in spans[1:])
    # every frame is added exactly once
    added = [f for s in spans for f in range(s.new_start, s.stop)]
    assert added == list(range(cfg.total_frames))
    # the history of chunk k is the last h frames of chunk k-1
    for prev, cur in zip(spans, spans[1:]):
        assert list(range(cur.start, cur.start + cur.history)) == list(range(prev.stop - cfg.history, prev.stop))
