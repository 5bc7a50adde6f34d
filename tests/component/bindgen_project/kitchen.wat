(component
  (type $ty-test:kitchen/types (;0;)
    (instance
      (type (;0;) (enum "red" "green" "blue"))
      (export (;1;) "color" (type (eq 0)))
      (type (;2;) (flags "read" "write" "exec"))
      (export (;3;) "perms" (type (eq 2)))
      (type (;4;) (record (field "x" s32) (field "y" s32)))
      (export (;5;) "point" (type (eq 4)))
      (type (;6;) (variant (case "circle" f32) (case "rect" 5) (case "nothing")))
      (export (;7;) "shape" (type (eq 6)))
      (type (;8;) (list 7))
      (type (;9;) (option 1))
      (type (;10;) (tuple string 9))
      (type (;11;) (variant (case "leaf" u32) (case "shapes" 8) (case "named" 10)))
      (export (;12;) "node" (type (eq 11)))
      (type (;13;) (list string))
      (type (;14;) (option u32))
      (type (;15;) (option string))
      (type (;16;) (option 15))
      (type (;17;) (tuple string u8))
      (type (;18;) (list u8))
      (type (;19;) (result u32 (error string)))
      (type (;20;) (result (error 1)))
      (type (;21;) (record (field "name" string) (field "tags" 13) (field "color" 1) (field "perms" 3) (field "shape" 7) (field "node" 12) (field "maybe" 14) (field "nested" 16) (field "pair" 17) (field "data" 18) (field "outcome" 19) (field "empty-ok" 20) (field "max-size" u64)))
      (export (;22;) "everything" (type (eq 21)))
    )
  )
  (import "test:kitchen/types" (instance $test:kitchen/types (;0;) (type $ty-test:kitchen/types)))
  (alias export $test:kitchen/types "everything" (type $everything (;1;)))
  (alias export $test:kitchen/types "point" (type $point (;2;)))
  (type $ty-test:kitchen/host (;3;)
    (instance
      (alias outer 1 $everything (type (;0;)))
      (export (;1;) "everything" (type (eq 0)))
      (alias outer 1 $point (type (;2;)))
      (export (;3;) "point" (type (eq 2)))
      (export (;4;) "logger" (type (sub resource)))
      (type (;5;) (own 4))
      (type (;6;) (func (param "prefix" string) (result 5)))
      (export (;0;) "[constructor]logger" (func (type 6)))
      (type (;7;) (borrow 4))
      (type (;8;) (func (param "self" 7) (param "msg" string)))
      (export (;1;) "[method]logger.log" (func (type 8)))
      (type (;9;) (func (result 5)))
      (export (;2;) "[static]logger.make-default" (func (type 9)))
      (type (;10;) (func (param "e" 1) (result 1)))
      (export (;3;) "transform" (func (type 10)))
      (type (;11;) (result 3 (error string)))
      (type (;12;) (func (param "p" 3) (result 11)))
      (export (;4;) "check" (func (type 12)))
    )
  )
  (import "test:kitchen/host" (instance $test:kitchen/host (;1;) (type $ty-test:kitchen/host)))
  (core module $main (;0;)
    (type (;0;) (func (param i32 i32)))
    (type (;1;) (func (param i32 i32 i32)))
    (type (;2;) (func (param i32 i32) (result i32)))
    (type (;3;) (func (result i32)))
    (type (;4;) (func (param i32)))
    (type (;5;) (func (param i32) (result i32)))
    (type (;6;) (func (param i32 i32 i32 i32) (result i32)))
    (type (;7;) (func (param i32 i32 i32) (result i32)))
    (import "test:kitchen/host" "transform" (func $host:transform (;0;) (type 0) (param i32 i32)))
    (import "test:kitchen/host" "check" (func $host:check (;1;) (type 1) (param i32 i32 i32)))
    (import "test:kitchen/host" "[constructor]logger" (func $host:_constructor_logger (;2;) (type 2) (param i32 i32) (result i32)))
    (import "test:kitchen/host" "[method]logger.log" (func $host:_method_logger.log (;3;) (type 1) (param i32 i32 i32)))
    (import "test:kitchen/host" "[static]logger.make-default" (func $host:_static_logger.make-default (;4;) (type 3) (result i32)))
    (import "test:kitchen/host" "[resource-drop]logger" (func $logger.drop (;5;) (type 4) (param i32)))
    (import "[export]test:kitchen/counters" "[resource-new]counter" (func $counter.new (;6;) (type 5) (param i32) (result i32)))
    (memory (;0;) 1)
    (global $heap (;0;) (mut i32) i32.const 4096)
    (export "memory" (memory 0))
    (export "cabi_realloc" (func $realloc))
    (export "test:kitchen/api#transform" (func 8))
    (export "test:kitchen/api#check" (func 9))
    (export "test:kitchen/api#new-logger" (func 10))
    (export "test:kitchen/api#log-with" (func 11))
    (export "test:kitchen/api#default-logger" (func 12))
    (export "test:kitchen/api#drop-logger" (func 13))
    (export "hello" (func 14))
    (export "test:kitchen/counters#[constructor]counter" (func 16))
    (export "test:kitchen/counters#[static]counter.zero" (func 17))
    (export "test:kitchen/counters#[method]counter.get" (func 18))
    (export "test:kitchen/counters#[method]counter.add" (func 19))
    (export "test:kitchen/counters#[dtor]counter" (func 20))
    (export "test:kitchen/counters#total" (func 21))
    (func $realloc (;7;) (type 6) (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $p i32)
      global.get $heap
      local.get $align
      i32.const 1
      i32.sub
      i32.add
      i32.const 0
      local.get $align
      i32.sub
      i32.and
      local.set $p
      local.get $p
      local.get $size
      i32.add
      global.set $heap
      global.get $heap
      memory.size
      i32.const 65536
      i32.mul
      i32.gt_u
      if ;; label = @1
        global.get $heap
        i32.const 16
        i32.shr_u
        i32.const 1
        i32.add
        memory.grow
        drop
      end
      local.get $old
      if ;; label = @1
        local.get $p
        local.get $old
        local.get $old_size
        memory.copy
      end
      local.get $p
    )
    (func (;8;) (type 5) (param i32) (result i32)
      local.get 0
      i32.const 64
      call $host:transform
      i32.const 64
    )
    (func (;9;) (type 2) (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 64
      call $host:check
      i32.const 64
    )
    (func (;10;) (type 2) (param i32 i32) (result i32)
      local.get 0
      local.get 1
      call $host:_constructor_logger
    )
    (func (;11;) (type 1) (param i32 i32 i32)
      local.get 0
      local.get 1
      local.get 2
      call $host:_method_logger.log
      local.get 0
      call $logger.drop
    )
    (func (;12;) (type 3) (result i32)
      call $host:_static_logger.make-default
    )
    (func (;13;) (type 4) (param i32)
      local.get 0
      call $logger.drop
    )
    (func (;14;) (type 2) (param $s i32) (param $n i32) (result i32)
      (local $p i32)
      i32.const 0
      i32.const 0
      i32.const 1
      local.get $n
      i32.const 7
      i32.add
      call $realloc
      local.set $p
      local.get $p
      i32.const 0
      i32.const 7
      memory.copy
      local.get $p
      i32.const 7
      i32.add
      local.get $s
      local.get $n
      memory.copy
      i32.const 64
      local.get $p
      i32.store
      i32.const 68
      local.get $n
      i32.const 7
      i32.add
      i32.store
      i32.const 64
    )
    (func $new_counter (;15;) (type 5) (param $start i32) (result i32)
      (local $p i32)
      i32.const 0
      i32.const 0
      i32.const 4
      i32.const 4
      call $realloc
      local.set $p
      local.get $p
      local.get $start
      i32.store
      local.get $p
      call $counter.new
    )
    (func (;16;) (type 5) (param i32) (result i32)
      local.get 0
      call $new_counter
    )
    (func (;17;) (type 3) (result i32)
      i32.const 0
      call $new_counter
    )
    (func (;18;) (type 5) (param i32) (result i32)
      local.get 0
      i32.load
    )
    (func (;19;) (type 0) (param i32 i32)
      local.get 0
      local.get 0
      i32.load
      local.get 1
      i32.add
      i32.store
    )
    (func (;20;) (type 4) (param i32))
    (func (;21;) (type 7) (param $c i32) (param $ptr i32) (param $len i32) (result i32)
      (local $sum i32)
      local.get $c
      i32.load
      local.set $sum
      block $done
        loop $next
          local.get $len
          i32.eqz
          br_if $done
          local.get $sum
          local.get $ptr
          i32.load
          i32.load
          i32.add
          local.set $sum
          local.get $ptr
          i32.const 4
          i32.add
          local.set $ptr
          local.get $len
          i32.const 1
          i32.sub
          local.set $len
          br $next
        end
      end
      local.get $sum
    )
    (data (;0;) (i32.const 0) "hello, ")
    (@producers
      (processed-by "wit-component" "0.262.0")
    )
  )
  (core module $wit-component-shim-module (;1;)
    (type (;0;) (func (param i32 i32)))
    (type (;1;) (func (param i32 i32 i32)))
    (type (;2;) (func (param i32 i32) (result i32)))
    (type (;3;) (func (param i32)))
    (table (;0;) 5 5 funcref)
    (export "0" (func $indirect-test:kitchen/host-transform))
    (export "1" (func $indirect-test:kitchen/host-check))
    (export "2" (func $"indirect-test:kitchen/host-[constructor]logger"))
    (export "3" (func $"indirect-test:kitchen/host-[method]logger.log"))
    (export "4" (func $dtor-counter))
    (export "$imports" (table 0))
    (func $indirect-test:kitchen/host-transform (;0;) (type 0) (param i32 i32)
      local.get 0
      local.get 1
      i32.const 0
      call_indirect (type 0)
    )
    (func $indirect-test:kitchen/host-check (;1;) (type 1) (param i32 i32 i32)
      local.get 0
      local.get 1
      local.get 2
      i32.const 1
      call_indirect (type 1)
    )
    (func $"indirect-test:kitchen/host-[constructor]logger" (;2;) (type 2) (param i32 i32) (result i32)
      local.get 0
      local.get 1
      i32.const 2
      call_indirect (type 2)
    )
    (func $"indirect-test:kitchen/host-[method]logger.log" (;3;) (type 1) (param i32 i32 i32)
      local.get 0
      local.get 1
      local.get 2
      i32.const 3
      call_indirect (type 1)
    )
    (func $dtor-counter (;4;) (type 3) (param i32)
      local.get 0
      i32.const 4
      call_indirect (type 3)
    )
    (@producers
      (processed-by "wit-component" "0.262.0")
    )
  )
  (core instance $wit-component-shim-instance (;0;) (instantiate $wit-component-shim-module))
  (alias export $test:kitchen/types "everything" (type $"#type4 everything" (@name "everything") (;4;)))
  (alias export $test:kitchen/types "point" (type $"#type5 point" (@name "point") (;5;)))
  (alias export $test:kitchen/host "logger" (type $logger (;6;)))
  (alias core export $wit-component-shim-instance "4" (core func $dtor-counter (;0;)))
  (type $counter (;7;) (resource (rep i32) (dtor $dtor-counter)))
  (alias core export $wit-component-shim-instance "0" (core func $indirect-test:kitchen/host-transform (;1;)))
  (alias core export $wit-component-shim-instance "1" (core func $indirect-test:kitchen/host-check (;2;)))
  (alias core export $wit-component-shim-instance "2" (core func $"indirect-test:kitchen/host-[constructor]logger" (;3;)))
  (alias core export $wit-component-shim-instance "3" (core func $"indirect-test:kitchen/host-[method]logger.log" (;4;)))
  (alias export $test:kitchen/host "[static]logger.make-default" (func $"[static]logger.make-default" (;0;)))
  (core func $"[static]logger.make-default" (;5;) (canon lower (func $"[static]logger.make-default")))
  (alias export $test:kitchen/host "logger" (type $"#type8 logger" (@name "logger") (;8;)))
  (core func $resource.drop (;6;) (canon resource.drop $"#type8 logger"))
  (core instance $test:kitchen/host (;1;)
    (export "transform" (func $indirect-test:kitchen/host-transform))
    (export "check" (func $indirect-test:kitchen/host-check))
    (export "[constructor]logger" (func $"indirect-test:kitchen/host-[constructor]logger"))
    (export "[method]logger.log" (func $"indirect-test:kitchen/host-[method]logger.log"))
    (export "[static]logger.make-default" (func $"[static]logger.make-default"))
    (export "[resource-drop]logger" (func $resource.drop))
  )
  (core func $resource.new (;7;) (canon resource.new $counter))
  (core instance $"[export]test:kitchen/counters" (;2;)
    (export "[resource-new]counter" (func $resource.new))
  )
  (core instance $main (;3;) (instantiate $main
      (with "test:kitchen/host" (instance $test:kitchen/host))
      (with "[export]test:kitchen/counters" (instance $"[export]test:kitchen/counters"))
    )
  )
  (alias core export $main "memory" (core memory $memory (;0;)))
  (core module $wit-component-fixup (;2;)
    (type (;0;) (func (param i32 i32)))
    (type (;1;) (func (param i32 i32 i32)))
    (type (;2;) (func (param i32 i32) (result i32)))
    (type (;3;) (func (param i32)))
    (import "actual" "0" (func $0 (;0;) (type 0) (param i32 i32)))
    (import "actual" "1" (func $1 (;1;) (type 1) (param i32 i32 i32)))
    (import "actual" "2" (func $2 (;2;) (type 2) (param i32 i32) (result i32)))
    (import "actual" "3" (func $3 (;3;) (type 1) (param i32 i32 i32)))
    (import "actual" "4" (func $4 (;4;) (type 3) (param i32)))
    (import "shim" "$imports" (table (;0;) 5 5 funcref))
    (elem (;0;) (i32.const 0) func $0 $1 $2 $3 $4)
    (@producers
      (processed-by "wit-component" "0.262.0")
    )
  )
  (alias export $test:kitchen/host "transform" (func $transform (;1;)))
  (alias core export $main "cabi_realloc" (core func $cabi_realloc (;8;)))
  (core func $"#core-func9 indirect-test:kitchen/host-transform" (@name "indirect-test:kitchen/host-transform") (;9;) (canon lower (func $transform) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (alias export $test:kitchen/host "check" (func $check (;2;)))
  (core func $"#core-func10 indirect-test:kitchen/host-check" (@name "indirect-test:kitchen/host-check") (;10;) (canon lower (func $check) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (alias export $test:kitchen/host "[constructor]logger" (func $"[constructor]logger" (;3;)))
  (core func $"#core-func11 indirect-test:kitchen/host-[constructor]logger" (@name "indirect-test:kitchen/host-[constructor]logger") (;11;) (canon lower (func $"[constructor]logger") (memory $memory) string-encoding=utf8))
  (alias export $test:kitchen/host "[method]logger.log" (func $"[method]logger.log" (;4;)))
  (core func $"#core-func12 indirect-test:kitchen/host-[method]logger.log" (@name "indirect-test:kitchen/host-[method]logger.log") (;12;) (canon lower (func $"[method]logger.log") (memory $memory) string-encoding=utf8))
  (alias core export $main "test:kitchen/counters#[dtor]counter" (core func $"test:kitchen/counters#[dtor]counter" (;13;)))
  (core instance $actual (;4;)
    (export "0" (func $"#core-func9 indirect-test:kitchen/host-transform"))
    (export "1" (func $"#core-func10 indirect-test:kitchen/host-check"))
    (export "2" (func $"#core-func11 indirect-test:kitchen/host-[constructor]logger"))
    (export "3" (func $"#core-func12 indirect-test:kitchen/host-[method]logger.log"))
    (export "4" (func $"test:kitchen/counters#[dtor]counter"))
  )
  (core instance $fixup (;5;) (instantiate $wit-component-fixup
      (with "actual" (instance $actual))
      (with "shim" (instance $wit-component-shim-instance))
    )
  )
  (type (;9;) (func (param "name" string) (result string)))
  (alias core export $main "hello" (core func $hello (;14;)))
  (func $hello (;5;) (type 9) (canon lift (core func $hello) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (export $"#func6 hello" (@name "hello") (;6;) "hello" (func $hello))
  (type (;10;) (func (param "e" $"#type4 everything") (result $"#type4 everything")))
  (alias core export $main "test:kitchen/api#transform" (core func $test:kitchen/api#transform (;15;)))
  (func $"#func7 transform" (@name "transform") (;7;) (type 10) (canon lift (core func $test:kitchen/api#transform) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (type (;11;) (result $"#type5 point" (error string)))
  (type (;12;) (func (param "p" $"#type5 point") (result 11)))
  (alias core export $main "test:kitchen/api#check" (core func $test:kitchen/api#check (;16;)))
  (func $"#func8 check" (@name "check") (;8;) (type 12) (canon lift (core func $test:kitchen/api#check) (memory $memory) string-encoding=utf8))
  (type (;13;) (own $logger))
  (type (;14;) (func (param "prefix" string) (result 13)))
  (alias core export $main "test:kitchen/api#new-logger" (core func $test:kitchen/api#new-logger (;17;)))
  (func $new-logger (;9;) (type 14) (canon lift (core func $test:kitchen/api#new-logger) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (type (;15;) (borrow $logger))
  (type (;16;) (func (param "l" 15) (param "msg" string)))
  (alias core export $main "test:kitchen/api#log-with" (core func $test:kitchen/api#log-with (;18;)))
  (func $log-with (;10;) (type 16) (canon lift (core func $test:kitchen/api#log-with) (memory $memory) (realloc $cabi_realloc) string-encoding=utf8))
  (type (;17;) (func (result 13)))
  (alias core export $main "test:kitchen/api#default-logger" (core func $test:kitchen/api#default-logger (;19;)))
  (func $default-logger (;11;) (type 17) (canon lift (core func $test:kitchen/api#default-logger)))
  (type (;18;) (func (param "l" 13)))
  (alias core export $main "test:kitchen/api#drop-logger" (core func $test:kitchen/api#drop-logger (;20;)))
  (func $drop-logger (;12;) (type 18) (canon lift (core func $test:kitchen/api#drop-logger)))
  (alias export $test:kitchen/types "color" (type $color (;19;)))
  (alias export $test:kitchen/types "perms" (type $perms (;20;)))
  (alias export $test:kitchen/types "shape" (type $shape (;21;)))
  (alias export $test:kitchen/types "node" (type $node (;22;)))
  (component $test:kitchen/api-shim-component (;0;)
    (type (;0;) (enum "red" "green" "blue"))
    (import "import-type-color" (type (;1;) (eq 0)))
    (type (;2;) (flags "read" "write" "exec"))
    (import "import-type-perms" (type (;3;) (eq 2)))
    (type (;4;) (record (field "x" s32) (field "y" s32)))
    (import "import-type-point" (type (;5;) (eq 4)))
    (type (;6;) (variant (case "circle" f32) (case "rect" 5) (case "nothing")))
    (import "import-type-shape" (type (;7;) (eq 6)))
    (type (;8;) (list 7))
    (type (;9;) (option 1))
    (type (;10;) (tuple string 9))
    (type (;11;) (variant (case "leaf" u32) (case "shapes" 8) (case "named" 10)))
    (import "import-type-node" (type (;12;) (eq 11)))
    (type (;13;) (list string))
    (type (;14;) (option u32))
    (type (;15;) (option string))
    (type (;16;) (option 15))
    (type (;17;) (tuple string u8))
    (type (;18;) (list u8))
    (type (;19;) (result u32 (error string)))
    (type (;20;) (result (error 1)))
    (type (;21;) (record (field "name" string) (field "tags" 13) (field "color" 1) (field "perms" 3) (field "shape" 7) (field "node" 12) (field "maybe" 14) (field "nested" 16) (field "pair" 17) (field "data" 18) (field "outcome" 19) (field "empty-ok" 20) (field "max-size" u64)))
    (import "import-type-everything" (type (;22;) (eq 21)))
    (import "import-type-logger" (type (;23;) (sub resource)))
    (import "import-type-everything0" (type (;24;) (eq 22)))
    (type (;25;) (func (param "e" 24) (result 24)))
    (import "import-func-transform" (func (;0;) (type 25)))
    (import "import-type-point0" (type (;26;) (eq 5)))
    (type (;27;) (result 26 (error string)))
    (type (;28;) (func (param "p" 26) (result 27)))
    (import "import-func-check" (func (;1;) (type 28)))
    (import "import-type-logger0" (type (;29;) (eq 23)))
    (type (;30;) (own 29))
    (type (;31;) (func (param "prefix" string) (result 30)))
    (import "import-func-new-logger" (func (;2;) (type 31)))
    (type (;32;) (borrow 29))
    (type (;33;) (func (param "l" 32) (param "msg" string)))
    (import "import-func-log-with" (func (;3;) (type 33)))
    (type (;34;) (func (result 30)))
    (import "import-func-default-logger" (func (;4;) (type 34)))
    (type (;35;) (func (param "l" 30)))
    (import "import-func-drop-logger" (func (;5;) (type 35)))
    (export (;36;) "everything" (type 22))
    (export (;37;) "point" (type 5))
    (export (;38;) "logger" (type 23))
    (type (;39;) (func (param "e" 36) (result 36)))
    (export (;6;) "transform" (func 0) (func (type 39)))
    (type (;40;) (result 37 (error string)))
    (type (;41;) (func (param "p" 37) (result 40)))
    (export (;7;) "check" (func 1) (func (type 41)))
    (type (;42;) (own 38))
    (type (;43;) (func (param "prefix" string) (result 42)))
    (export (;8;) "new-logger" (func 2) (func (type 43)))
    (type (;44;) (borrow 38))
    (type (;45;) (func (param "l" 44) (param "msg" string)))
    (export (;9;) "log-with" (func 3) (func (type 45)))
    (type (;46;) (func (result 42)))
    (export (;10;) "default-logger" (func 4) (func (type 46)))
    (type (;47;) (func (param "l" 42)))
    (export (;11;) "drop-logger" (func 5) (func (type 47)))
  )
  (instance $test:kitchen/api-shim-instance (;2;) (instantiate $test:kitchen/api-shim-component
      (with "import-func-transform" (func $"#func7 transform"))
      (with "import-func-check" (func $"#func8 check"))
      (with "import-func-new-logger" (func $new-logger))
      (with "import-func-log-with" (func $log-with))
      (with "import-func-default-logger" (func $default-logger))
      (with "import-func-drop-logger" (func $drop-logger))
      (with "import-type-color" (type $color))
      (with "import-type-perms" (type $perms))
      (with "import-type-point" (type $"#type5 point"))
      (with "import-type-shape" (type $shape))
      (with "import-type-node" (type $node))
      (with "import-type-everything" (type $"#type4 everything"))
      (with "import-type-logger" (type $logger))
      (with "import-type-everything0" (type $"#type4 everything"))
      (with "import-type-point0" (type $"#type5 point"))
      (with "import-type-logger0" (type $logger))
    )
  )
  (export $test:kitchen/api (;3;) "test:kitchen/api" (instance $test:kitchen/api-shim-instance))
  (type (;23;) (own $counter))
  (type (;24;) (func (param "start" u32) (result 23)))
  (alias core export $main "test:kitchen/counters#[constructor]counter" (core func $"test:kitchen/counters#[constructor]counter" (;21;)))
  (func $"[constructor]counter" (;13;) (type 24) (canon lift (core func $"test:kitchen/counters#[constructor]counter")))
  (type (;25;) (borrow $counter))
  (type (;26;) (func (param "self" 25) (result u32)))
  (alias core export $main "test:kitchen/counters#[method]counter.get" (core func $"test:kitchen/counters#[method]counter.get" (;22;)))
  (func $"[method]counter.get" (;14;) (type 26) (canon lift (core func $"test:kitchen/counters#[method]counter.get")))
  (type (;27;) (func (param "self" 25) (param "n" u32)))
  (alias core export $main "test:kitchen/counters#[method]counter.add" (core func $"test:kitchen/counters#[method]counter.add" (;23;)))
  (func $"[method]counter.add" (;15;) (type 27) (canon lift (core func $"test:kitchen/counters#[method]counter.add")))
  (type (;28;) (func (result 23)))
  (alias core export $main "test:kitchen/counters#[static]counter.zero" (core func $"test:kitchen/counters#[static]counter.zero" (;24;)))
  (func $"[static]counter.zero" (;16;) (type 28) (canon lift (core func $"test:kitchen/counters#[static]counter.zero")))
  (type (;29;) (list 25))
  (type (;30;) (func (param "c" 25) (param "others" 29) (result u32)))
  (alias core export $main "test:kitchen/counters#total" (core func $test:kitchen/counters#total (;25;)))
  (func $total (;17;) (type 30) (canon lift (core func $test:kitchen/counters#total) (memory $memory) (realloc $cabi_realloc)))
  (component $test:kitchen/counters-shim-component (;1;)
    (import "import-type-counter" (type (;0;) (sub resource)))
    (type (;1;) (own 0))
    (type (;2;) (func (param "start" u32) (result 1)))
    (import "import-constructor-counter" (func (;0;) (type 2)))
    (type (;3;) (borrow 0))
    (type (;4;) (func (param "self" 3) (result u32)))
    (import "import-method-counter-get" (func (;1;) (type 4)))
    (type (;5;) (func (param "self" 3) (param "n" u32)))
    (import "import-method-counter-add" (func (;2;) (type 5)))
    (type (;6;) (func (result 1)))
    (import "import-static-counter-zero" (func (;3;) (type 6)))
    (type (;7;) (list 3))
    (type (;8;) (func (param "c" 3) (param "others" 7) (result u32)))
    (import "import-func-total" (func (;4;) (type 8)))
    (export (;9;) "counter" (type 0))
    (type (;10;) (own 9))
    (type (;11;) (func (param "start" u32) (result 10)))
    (export (;5;) "[constructor]counter" (func 0) (func (type 11)))
    (type (;12;) (borrow 9))
    (type (;13;) (func (param "self" 12) (result u32)))
    (export (;6;) "[method]counter.get" (func 1) (func (type 13)))
    (type (;14;) (func (param "self" 12) (param "n" u32)))
    (export (;7;) "[method]counter.add" (func 2) (func (type 14)))
    (type (;15;) (func (result 10)))
    (export (;8;) "[static]counter.zero" (func 3) (func (type 15)))
    (type (;16;) (list 12))
    (type (;17;) (func (param "c" 12) (param "others" 16) (result u32)))
    (export (;9;) "total" (func 4) (func (type 17)))
  )
  (instance $test:kitchen/counters-shim-instance (;4;) (instantiate $test:kitchen/counters-shim-component
      (with "import-constructor-counter" (func $"[constructor]counter"))
      (with "import-method-counter-get" (func $"[method]counter.get"))
      (with "import-method-counter-add" (func $"[method]counter.add"))
      (with "import-static-counter-zero" (func $"[static]counter.zero"))
      (with "import-func-total" (func $total))
      (with "import-type-counter" (type $counter))
    )
  )
  (export $test:kitchen/counters (;5;) "test:kitchen/counters" (instance $test:kitchen/counters-shim-instance))
  (@producers
    (processed-by "wit-component" "0.262.0")
  )
)
