-- Table insert + lookup of 10^6 integer keys, summing the lookups.
local n = 1000000
local t = {}
for i = 1, n do
  t[i] = i * 3
end
local s = 0
for i = 1, n do
  s = s + t[i]
end
print(#t, s)
