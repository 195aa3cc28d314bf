-- wrk script: send DEPTH requests back to back per round trip (pipelining),
-- as the TechEmpower plaintext test does.
--   wrk -t2 -c256 -d10s -s examples/http/pipeline.lua http://127.0.0.1:8080/plaintext -- 16
init = function(args)
  local depth = tonumber(args[1]) or 1
  local batch = {}
  for i = 1, depth do
    batch[i] = wrk.format()
  end
  pipelined = table.concat(batch)
end

request = function()
  return pipelined
end
