"""Tests of the ctypes bindings; CRIA_LIBRARY and CRIA_SHARED_DIR come from CTest."""
import os
import threading

import pytest

import cria

SHARED = os.environ.get("CRIA_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../../shared"))
MODELS = os.path.join(SHARED, "models")
STORIES = os.path.join(MODELS, "stories260K.gguf")


def golden_completion():
    with open(os.path.join(SHARED, "golden", "stories260K.once.t0.n200.txt"), encoding="utf-8") as f:
        text = f.read()
    assert text.startswith("Once upon a time")
    return text[len("Once upon a time"):]


@pytest.fixture(scope="module")
def model():
    with cria.Model(STORIES) as m:
        yield m


def test_version():
    assert cria.version().count(".") == 2
    assert cria.__version__ == cria.version()  # from the source tree: the loaded library's


def test_logits_are_a_float32_buffer(model):
    np = pytest.importorskip("numpy")
    with model.session(temperature=0) as s:
        s.eval(model.tokenize("Once upon a time"))
        logits = s.logits()
        assert logits.typecode == "f" and len(logits) == model.vocab_size
        view = np.frombuffer(logits, dtype=np.float32)  # no copy: the same memory
        assert view.argmax() == s.sample()
        logits[7] = 1e9
        assert view[7] == 1e9
        assert s.sample(view) == 7 and s.sample(logits) == 7 and s.sample(list(logits)) == 7
        assert s.sample(memoryview(logits).toreadonly()) == 7  # read-only buffers are copied


def test_info_and_vocabulary(model):
    info = model.info
    assert (info.format, info.dim, info.n_layers, info.n_heads, info.n_kv_heads) == ("gguf", 64, 5, 8, 4)
    assert info.vocab_size == model.vocab_size == 512
    assert info.has_vocabulary
    assert (model.bos, model.eos) == (1, 2)
    assert model.token_piece(1) == "<s>"
    with pytest.raises(cria.InvalidArgument):
        model.token_piece(512)


def test_tokenize_roundtrip(model):
    ids = model.tokenize("Once upon a time")
    assert ids[0] == model.bos
    assert model.detokenize(ids) == "Once upon a time"
    assert model.tokenize("</s>", add_bos=False, parse_special=True) == [2]
    assert len(model.tokenize("x" * 300, add_bos=False)) > 0  # grows the buffer
    with pytest.raises(cria.InvalidArgument):
        model.detokenize([1, 100000])


def test_generate_greedy_matches_llama2c(model):
    with model.session(temperature=0) as s:
        chunks = []
        r = s.generate("Once upon a time", max_tokens=40, on_text=chunks.append)
        assert r.stop_reason == "max_tokens" and r.n_tokens == 40
        assert "".join(chunks) == r.text
        assert golden_completion().startswith(r.text) and len(r.text) > 40
        assert s.n_past == r.n_prompt_tokens + 40


def test_stream_equals_generate(model):
    with model.session(temperature=0) as s:
        streamed = "".join(s.stream("Once upon a time", max_tokens=40, positions_per_step=2))
        s.reset()
        assert streamed == s.generate("Once upon a time", max_tokens=40).text


def test_stop_strings(model):
    golden = golden_completion()
    stop = golden[60:65]
    expected = golden[:golden.index(stop)]
    with model.session(temperature=0) as s:
        r = s.generate("Once upon a time", max_tokens=100, stop=[stop])
        assert r.stop_reason == "stop_string" and r.text == expected
        s.reset()
        assert "".join(s.stream("Once upon a time", max_tokens=100, stop=[stop])) == expected


def test_cancel_by_return_value(model):
    with model.session(temperature=0) as s:
        r = s.generate("Once upon a time", on_text=lambda t: False)
        assert r.stop_reason == "cancelled" and r.n_tokens == 1


def test_cancel_by_exception(model):
    class Stop(Exception):
        pass

    def boom(text):
        raise Stop()

    with model.session(temperature=0) as s:
        with pytest.raises(Stop):
            s.generate("Once upon a time", on_text=boom)
        with pytest.raises(cria.Cancelled):
            s.generate("Once upon a time", on_prompt_progress=lambda f: False)


def test_cancel_stream_by_breaking(model):
    with model.session(temperature=0) as s:
        gen = s.stream("Once upon a time")
        first = next(gen)
        gen.close()
        assert first and s.n_past == 6  # the prompt's 5 tokens and one generated


def test_step_api(model):
    with model.session(temperature=0) as s:
        with pytest.raises(cria.InvalidState):
            s.sample()
        ids = model.tokenize("Once upon a time")
        assert s.eval(ids, max_positions=2) == 2
        assert s.eval(ids[2:]) == len(ids) - 2
        logits = s.logits()
        assert len(logits) == 512
        tok = s.sample()
        assert tok == max(range(512), key=lambda i: logits[i])
        assert s.sample(logits) == tok
        text = s.accept(tok)
        assert golden_completion().startswith(text)
        with pytest.raises(cria.InvalidArgument):
            s.accept(-1)


def test_context_full(model):
    with model.session(temperature=0, context_length=16) as s:
        r = s.generate("Once upon a time")
        assert r.stop_reason == "context_full" and s.n_past == 16
        with pytest.raises(cria.ContextFull):
            s.generate("more")


def test_load_modes_give_the_same_text():
    outputs = []
    for mode in ("read", "map", "map-shared"):
        with cria.Model(STORIES, load_mode=mode) as m:
            with m.session() as s:
                outputs.append(s.generate("Once upon a time", max_tokens=20, temperature=0).text)
    assert outputs[0] == outputs[1] == outputs[2] and len(outputs[0]) > 0
    with pytest.raises(ValueError):
        cria.Model(STORIES, load_mode="mmap")


def test_load_errors(tmp_path):
    with pytest.raises(cria.IoError):
        cria.Model(os.path.join(MODELS, "missing.gguf"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\xff" * 60)
    with pytest.raises(cria.CriaError):
        cria.Model(bad)
    with pytest.raises(cria.Cancelled):
        cria.Model(STORIES, progress=lambda f: False)
    seen = []
    cria.Model(STORIES, progress=lambda f: seen.append(f) or True).close()
    assert seen[-1] == 1.0


def test_llama2c_with_tokenizer():
    with cria.Model(os.path.join(MODELS, "stories260K.bin"),
                    tokenizer_path=os.path.join(MODELS, "stories260K.tok512.bin")) as m:
        assert m.info.format == "llama2c"
        with m.session(temperature=0) as s:
            text = s.generate("Once upon a time", max_tokens=20).text
        assert golden_completion().startswith(text)


def test_chat_template():
    with cria.Model(os.path.join(MODELS, "llama2-tiny-random.gguf")) as m:
        ids = m.chat_template([("system", "Be brief."), ("user", "Hello"),
                               {"role": "assistant", "content": "Hi."}, ("user", "Bye")])
        expected = (m.tokenize("[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHello [/INST] Hi. ", add_eos=True)
                    + m.tokenize("[INST] Bye [/INST]"))
        assert ids == expected
        assert ids[:4] == [1, 518, 25580, 29962]
        with pytest.raises(cria.InvalidArgument):
            m.chat_template([("assistant", "no")])


def test_threads_share_a_model(model):
    results = [None] * 3

    def work(i):
        with model.session(temperature=0, n_threads=1) as s:
            results[i] = s.generate("Once upon a time", max_tokens=20).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results[0] and results.count(results[0]) == 3


PROMPTS = ["Once upon a time", "Tom and Lily went to the park", "The cat", "One day, a little girl"]


def test_sampler_stages(model):
    with model.session(temperature=0) as s:
        greedy = s.generate("Once upon a time", max_tokens=12).text
    first = model.tokenize(greedy)[len(model.tokenize("Once upon a time"))]
    # Banning the greedy first token changes the text; a repeat penalty changes a long greedy
    # story (which repeats itself); unknown options are refused.
    with model.session(temperature=0, logit_bias={first: float("-inf")}) as s:
        assert s.generate("Once upon a time", max_tokens=12).text != greedy
    with model.session(temperature=0) as plain, model.session(temperature=0, repeat_penalty=1.5) as penalized:
        assert (plain.generate("Once upon a time", max_tokens=120).text
                != penalized.generate("Once upon a time", max_tokens=120).text)
    with pytest.raises(cria.InvalidArgument, match="repeat_penalty"):
        model.session(repeat_penalty=-1)
    with pytest.raises(TypeError):
        model.session(no_such_stage=1)
    # Mirostat 2: a seed reproduces its text; Mirostat 1 is refused.
    texts = []
    for _ in range(2):
        with model.session(mirostat=2, mirostat_tau=3.0, seed=7) as s:
            texts.append(s.generate("Once upon a time", max_tokens=30).text)
    assert texts[0] == texts[1] and len(texts[0]) > len("Once upon a time")
    with pytest.raises(cria.InvalidArgument, match="mirostat"):
        model.session(mirostat=1)


def test_gpu_layers_split_gives_the_same_text():
    try:
        m = cria.Model(STORIES, backend="vulkan", gpu_layers=2)
    except (cria.Unsupported, cria.InvalidArgument) as e:
        pytest.skip("no Vulkan backend or device here: %s" % e)
    with m, m.session(temperature=0) as s:
        text = s.generate("Once upon a time", max_tokens=40).text
    assert len(text) >= 40 and golden_completion().startswith(text)


def test_backends():
    with pytest.raises(cria.Unsupported) as e:
        cria.Model(STORIES, backend="no-such-backend")
    assert "built: " in str(e.value) and "cpu, reference)" in str(e.value)
    with pytest.raises(cria.InvalidArgument, match="gpu_layers"):
        cria.Model(STORIES, gpu_layers=-2)
    with cria.Model(STORIES, backend="cpu", gpu_layers=2) as m:  # ignored by the CPU backend
        assert m is not None
    with pytest.raises(cria.InvalidArgument):
        cria.Model(STORIES, device=5)


def test_reference_backend_writes_the_golden_text():
    with cria.Model(STORIES, backend="reference") as ref, ref.session(temperature=0) as s:
        text = s.generate("Once upon a time", max_tokens=40).text
    assert len(text) > 40 and golden_completion().startswith(text)


def test_generate_batch_equals_each_alone(model):
    sessions = [model.session(seed=5, temperature=0.9) for _ in PROMPTS]
    seen = [[] for _ in PROMPTS]
    results = cria.generate_batch(sessions, PROMPTS, max_tokens=20,
                                  on_text=lambda i, chunk: seen[i].append(chunk) is None)
    for i, prompt in enumerate(PROMPTS):
        with model.session(seed=5, temperature=0.9) as alone:
            r = alone.generate(prompt, max_tokens=20)
        assert results[i].text == r.text == "".join(seen[i])
        assert results[i].n_tokens == r.n_tokens and results[i].stop_reason == r.stop_reason
    # a callback returning False stops its own sequence only
    for s in sessions:
        s.reset()
    results = cria.generate_batch(sessions, PROMPTS, max_tokens=20, on_text=lambda i, chunk: i != 1)
    assert results[1].stop_reason == "cancelled" and results[1].n_tokens == 1
    assert results[0].stop_reason == "max_tokens" and results[0].n_tokens == 20
    with pytest.raises(ValueError):
        cria.generate_batch(sessions, PROMPTS[:2])
    for s in sessions:
        s.close()


def test_batch_step_api_equals_each_alone(model):
    together = [model.session(temperature=0) for _ in PROMPTS]
    alone = [model.session(temperature=0) for _ in PROMPTS]
    with cria.Batch() as batch:
        for t, a, prompt in zip(together, alone, PROMPTS):
            ids = model.tokenize(prompt)
            batch.add(t, ids)
            a.eval(ids)
        batch.eval()
        for _ in range(5):
            for t, a in zip(together, alone):
                assert t.logits() == a.logits()
                tok = t.sample()
                assert batch.accept(t, tok) == a.accept(tok)
            batch.eval()
        with pytest.raises(cria.InvalidArgument):
            batch.accept(together[0], 512)
        batch.add(together[0], [1])
        with cria.Model(STORIES) as other, other.session(context_length=8) as foreign:
            with pytest.raises(cria.InvalidArgument):  # the batch holds a session of `model`
                batch.add(foreign, [1])
        batch.eval()
    for s in together + alone:
        s.close()


def test_chat_transcript_rewind_and_saved_state(model, tmp_path):
    """A chat through the template: each turn evaluates only its new tokens; editing the last
    user message evaluates only the edited message; a saved session resumes exactly."""
    eos = model.eos
    with model.session(temperature=0) as s:
        turn1 = model.chat_template([("system", "You tell short stories."), ("user", "Tell me about a cat.")])
        r1 = s.generate(turn1, max_tokens=20)
        assert s.n_evaluated == len(turn1) + r1.n_tokens
        assert s.n_evaluated == s.n_past
        before_turn2 = s.n_past
        s.eval([eos])
        turn2 = model.chat_template([("user", "And a dog?")])
        evaluated = s.n_evaluated
        r2 = s.generate(turn2, max_tokens=20)
        assert s.n_evaluated - evaluated == len(turn2) + r2.n_tokens
        print("turn 2: %d positions evaluated for %d message tokens and %d generated"
              % (s.n_evaluated - evaluated, len(turn2), r2.n_tokens))

        # Edit turn 2: back to just after the EOS, then only the edited message.
        s.truncate(before_turn2 + 1)
        assert s.tokens[-1] == eos and s.n_past == before_turn2 + 1
        edited = model.chat_template([("user", "And a bird that sings?")])
        evaluated = s.n_evaluated
        r3 = s.generate(edited, max_tokens=20)
        assert s.n_evaluated - evaluated == len(edited) + r3.n_tokens
        with pytest.raises(cria.InvalidArgument):
            s.truncate(s.n_past + 1)

        # Saved state with a sampling sampler: the resumed session draws the same tokens.
        s.set_sampling(temperature=0.9, seed=99, repeat_penalty=1.2)
        for _ in range(4):
            s.accept(s.sample())
        state = s.save_state()
        path = tmp_path / "chat.state"
        s.save(path)
        original = []
        for _ in range(25):
            t = s.sample()
            original.append((t, s.accept(t)))

    with model.session(temperature=0.9, seed=99, repeat_penalty=1.2) as r:
        r.load_state(state)
        evaluated = r.n_evaluated
        resumed = []
        for _ in range(25):
            t = r.sample()
            resumed.append((t, r.accept(t)))
        assert resumed == original
        assert r.n_evaluated - evaluated == 25
        r.load(path)
        assert [r.sample() for _ in range(1)] == [original[0][0]]
        with pytest.raises(cria.InvalidFile):
            r.load_state(state[: len(state) // 2])
        damaged = bytearray(state)
        damaged[len(state) // 3] ^= 1
        with pytest.raises(cria.InvalidFile, match="corrupted"):
            r.load_state(bytes(damaged))
        with pytest.raises(cria.IoError):
            r.load(tmp_path / "missing.state")


def test_context_shift_policy(model):
    bans = {model.eos: float("-inf"), model.bos: float("-inf")}
    with model.session(context_length=40, context_policy="shift", shift_keep=4, seed=3, logit_bias=bans) as s:
        r = s.generate("Once upon a time", max_tokens=90)
        assert r.n_tokens == 90 and r.stop_reason == "max_tokens"
        assert s.n_past <= 40
        assert s.tokens[:4] == model.tokenize("Once upon a time")[:4]
    with model.session(context_length=40, seed=3, logit_bias=bans) as s:
        assert s.generate("Once upon a time", max_tokens=90).stop_reason == "context_full"
    with pytest.raises(ValueError):
        model.session(context_policy="wrap")


def test_embeddings(model):
    texts = ["A cat sat on the mat.", "The dog ran after the ball.", "Lily was happy."]
    together = model.embed(texts)
    assert len(together) == 3 and all(len(e) == 64 for e in together)
    for e in together:
        assert abs(sum(v * v for v in e) - 1.0) < 1e-4
    assert model.embed(texts[1:2]) == together[1:2]
    raw = model.embed(texts, pooling="last", normalize=False)
    assert abs(sum(v * v for v in raw[0]) - 1.0) > 1e-3
    with pytest.raises(ValueError):
        model.embed(texts, pooling="max")


def test_grammar_and_json_schema(model):
    import json
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12},
                                                "age": {"type": "integer"}},
              "required": ["name", "age"], "additionalProperties": False}
    grammar = cria.json_schema_to_grammar(schema)
    assert "root" in grammar
    for seed in range(5):
        with model.session(temperature=1.0, seed=seed, grammar=grammar) as s:
            text = s.generate("Once upon a time", max_tokens=200).text
        value = json.loads(text)
        assert set(value) == {"name", "age"} and isinstance(value["age"], int), text
    with pytest.raises(cria.InvalidArgument, match="line 1, column"):
        model.session(grammar='root ::= "a" undefined-rule')
    with pytest.raises(cria.InvalidArgument, match="line"):
        cria.json_schema_to_grammar('{"type": "object",\n "properties": [}')
