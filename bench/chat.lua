-- wrk script: POST one small OpenAI chat request (model from the MODEL env var).
local model = os.getenv("MODEL") or "auto"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer bench"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"system","content":"You are terse."},' ..
  '{"role":"user","content":"What is the capital of France? Answer in one word."}],"max_tokens":64}'

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_us=%d p90_us=%d p99_us=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(90),
    latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout))
end
