-- Aggregation: t[k % 1000] = (t[k % 1000] or 0) + 1 over 2*10^7 iterations.
local t = {}
for k = 1, 20000000 do
  local key = k % 1000
  t[key] = (t[key] or 0) + 1
end
local n, total = 0, 0
for _, v in pairs(t) do
  n = n + 1
  total = total + v
end
print(n, total, t[0], t[999])
