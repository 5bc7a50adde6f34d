// A small design for the yosys benchmark: an 8-entry register file feeding a 16-bit ALU
// and an accumulator, enough logic for `synth` to do real work in a fraction of a second.
module top(input clk, input rst, input [2:0] op, input [2:0] ra, input [2:0] rb,
           input [2:0] wa, input we, input [15:0] imm, output reg [15:0] acc, output zero);
  reg [15:0] regs [0:7];
  wire [15:0] a = regs[ra];
  wire [15:0] b = (op[2]) ? imm : regs[rb];
  reg [15:0] y;
  always @* begin
    case (op)
      3'd0: y = a + b;
      3'd1: y = a - b;
      3'd2: y = a & b;
      3'd3: y = a | b;
      3'd4: y = a ^ b;
      3'd5: y = a << b[3:0];
      3'd6: y = a * b[7:0];
      default: y = (a < b) ? 16'd1 : 16'd0;
    endcase
  end
  always @(posedge clk) begin
    if (rst) acc <= 16'd0;
    else begin
      acc <= acc + y;
      if (we) regs[wa] <= y;
    end
  end
  assign zero = (acc == 16'd0);
endmodule
