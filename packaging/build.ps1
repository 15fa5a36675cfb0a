# Windows build of the poems-monitor bundle: dist\poems-monitor\poems-monitor.exe and its .zip.
# The same script as on Linux (packaging/build.py, OS branches inside). UNTESTED HERE: this
# project's machines run Linux; .github/workflows/bundle.yml would build and smoke-test it.
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
if ($env:PYTHON) { $python = $env:PYTHON }
elseif (Test-Path "$root\.venv\Scripts\python.exe") { $python = "$root\.venv\Scripts\python.exe" }
else { $python = "python" }
Set-Location $root
& $python "$PSScriptRoot\build.py" @args
exit $LASTEXITCODE
