-- Integer loop: numeric for and addition on a local, 10^8 iterations.
local s = 0
for i = 1, 100000000 do
  s = s + i
end
print(s)
