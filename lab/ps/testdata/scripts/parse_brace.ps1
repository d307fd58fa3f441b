if ($true) {
    'x'
